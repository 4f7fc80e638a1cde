// One running cell: its isolate, output buffer, observer, callbacks and lifecycle
// (running → finishing | terminating → ended → closing → closed).
import { CallbackSet, Deadline } from './callbacks.js';
import { CodeCellError, messageOf } from './errors.js';
import type { CellIsolate } from './isolate/cell-isolate.js';
import { byteLength, parseJsonText, toJsonText } from './json.js';
import type { CellLimits } from './limits.js';
import {
  IMAGE_DETAILS,
  type CellEvent,
  type CellId,
  type CellStreamEvent,
  type ImageDetail,
  type JsonValue,
  type Logger,
  type ObserveMode,
  type OutputItem,
  type SessionRuntimeDelegate,
  type TerminalCellEvent,
  type TerminationReason,
  type ToolDefinition,
  type ToolKind,
} from './types.js';

export interface CellTool {
  readonly id: string;
  readonly definition: ToolDefinition;
  readonly kind: ToolKind;
}

export interface CellOptions {
  id: CellId;
  toolCallId: string;
  tools: readonly CellTool[];
  limits: CellLimits;
  delegate: SessionRuntimeDelegate;
  callbackAbortDeadlineMs: number;
  logger: Logger;
  /** Commits the cell's store() writes to the session. */
  commitStore(writes: ReadonlyMap<string, string>): void;
  /** Taps the cell's stream events (SPEC §7). */
  emit(event: CellStreamEvent): void;
  /** Called once when closing starts: the cell is no longer addressable. */
  onClosing(): void;
}

type Phase = 'running' | 'finishing' | 'terminating' | 'ended' | 'closing' | 'closed';

interface Observer {
  readonly mode: ObserveMode;
  readonly resolve: (event: CellEvent) => void;
  readonly timer?: ReturnType<typeof setTimeout>;
}

const MAX_HOST_TIMERS = 10_000;
/** Bounds on what a cell can pile up on the host faster than its delegate takes it. */
export const MAX_NOTIFICATION_BACKLOG = 10_000;
export const MAX_OUTSTANDING_TOOL_CALLS = 10_000;

export class Cell {
  readonly id: CellId;
  readonly #options: CellOptions;
  readonly #isolate: CellIsolate;
  readonly #callbacks: CallbackSet;
  readonly #items: OutputItem[] = [];
  readonly #outstanding = new Set<string>();
  readonly #writes = new Map<string, string>();
  readonly #timers = new Map<number, ReturnType<typeof setTimeout>>();
  /** Wall-time timer and CPU-time poll, cleared when the cell stops. */
  readonly #watchers: (() => void)[] = [];
  #phase: Phase = 'running';
  #outputBytes = 0;
  #observer: Observer | undefined;
  #terminal: TerminalCellEvent | undefined;
  #deliveredTerminal: CellEvent | undefined;
  #termination: Promise<void> | undefined;
  #terminateRequested = false;
  #drainStop: AbortController | undefined;
  #callbacksSettled: Promise<void> = Promise.resolve();
  #closingStarted = false;
  readonly #closed: Promise<void>;
  #markClosed: () => void = () => {};

  constructor(isolate: CellIsolate, options: CellOptions) {
    this.id = options.id;
    this.#options = options;
    this.#isolate = isolate;
    this.#callbacks = new CallbackSet({ maxConcurrentToolCalls: options.limits.maxConcurrentToolCalls });
    this.#closed = new Promise((resolve) => {
      this.#markClosed = resolve;
    });
    isolate.onMessage((kind, a, b, c) => this.#onMessage(kind, a, b, c));
    isolate.onIdle(() => this.#onIdle());
    isolate.onFault(() => this.#terminateInternal('memoryLimit'));
  }

  /** False once the terminal event was delivered: the cell can no longer be observed. */
  get isOpen(): boolean {
    return this.#deliveredTerminal === undefined && this.#phase !== 'closing' && this.#phase !== 'closed';
  }

  /** Resolves when the cell is closed (cellClosed returned). */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Starts evaluating the module; the cell's outcome arrives through events. */
  start(source: string, filename: string, configText: string): void {
    const { wallTimeMs, cpuTimeMs } = this.#options.limits;
    if (wallTimeMs > 0) {
      const timer = setTimeout(() => this.#terminateInternal('timeLimit'), wallTimeMs);
      this.#watchers.push(() => clearTimeout(timer));
    }
    if (cpuTimeMs > 0) {
      const every = Math.max(5, Math.min(50, Math.floor(cpuTimeMs / 10)));
      const poll = setInterval(() => {
        if (this.#isolate.cpuTimeMs > cpuTimeMs) this.#terminateInternal('timeLimit');
      }, every);
      this.#watchers.push(() => clearInterval(poll));
    }
    this.#isolate.start(source, filename, configText).then(
      ({ error }) => {
        if (error !== undefined) this.#finish(error);
      },
      (error: unknown) => {
        if (error instanceof CodeCellError && error.code === 'ERR_MEMORY_LIMIT') this.#terminateInternal('memoryLimit');
        else this.#finish(`Error: ${messageOf(error)}`);
      },
    );
  }

  /** Completes the cell with an error without running it (its source did not compile). */
  fail(error: string): void {
    this.#finish(error);
  }

  /**
   * Attaches the one observer. Throws ERR_BUSY_OBSERVER synchronously; the returned promise
   * settles with the next event. `signal` detaches the observer without draining anything.
   */
  observe(mode: ObserveMode, signal?: AbortSignal): Promise<CellEvent> {
    signal?.throwIfAborted();
    if (this.#observer !== undefined) {
      throw new CodeCellError('ERR_BUSY_OBSERVER', `cell ${this.id} already has an active observer`);
    }
    if (this.#terminal !== undefined) return Promise.resolve(this.#takeTerminal());
    if (mode.kind === 'yieldAfter' && mode.ms === 0) return Promise.resolve(this.#intermediate('yielded'));
    if (mode.kind === 'pendingFrontier' && this.#phase === 'running' && this.#isolate.isIdle) {
      return Promise.resolve(this.#intermediate('pending'));
    }
    return new Promise((resolve, reject) => {
      const timer = mode.kind === 'yieldAfter' ? setTimeout(() => this.#yield(), mode.ms) : undefined;
      const onAbort = (): void => {
        if (this.#observer !== observer) return;
        this.#detachObserver();
        reject(signal?.reason);
      };
      const observer: Observer = {
        mode,
        timer,
        resolve: (event) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(event);
        },
      };
      this.#observer = observer;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Public terminate (SPEC §4): the terminated event, or the completed one if that won. */
  async terminate(): Promise<CellEvent> {
    if (this.#terminateRequested) {
      throw new CodeCellError('ERR_ALREADY_TERMINATING', `cell ${this.id} is already terminating`);
    }
    this.#terminateRequested = true;
    if (this.#phase === 'running' || this.#phase === 'finishing') {
      this.#termination = this.#terminate('requested');
    }
    await this.#termination;
    return this.#deliveredTerminal ?? this.#takeTerminal();
  }

  /** Ends the cell for a session shutdown under the session's one deadline, and closes it. */
  async shutdown(deadline: Deadline): Promise<void> {
    if (this.#phase === 'running' || this.#phase === 'finishing') {
      this.#termination = this.#terminate('shutdown', deadline);
    }
    await this.#termination;
    if (this.#deliveredTerminal === undefined) {
      // Nobody is left to read a buffered terminal event: drop it and close.
      this.#deliveredTerminal = this.#terminal;
      this.#maybeClose();
    }
    await Promise.race([this.#closed, deadline.reached]);
    // Never report the session shut down while an isolate thread may still run: a process that
    // exits then can crash in isolated-vm's teardown.
    await this.#isolate.stopped;
  }

  // --- messages from the sandbox (untrusted: every argument is checked) ---

  #onMessage(kind: unknown, a: unknown, b: unknown, c: unknown): void {
    if (this.#phase !== 'running') return;
    switch (kind) {
      case 'text':
        if (typeof a === 'string') this.#addOutput({ type: 'text', text: a });
        return;
      case 'image':
        if (typeof a === 'string' && typeof b === 'string' && (IMAGE_DETAILS as readonly string[]).includes(b)) {
          this.#addOutput({ type: 'image', imageUrl: a, detail: b as ImageDetail });
        }
        return;
      case 'notify':
        if (typeof a === 'string') this.#notify(a);
        return;
      case 'tool':
        if (typeof a === 'string' && typeof b === 'number' && typeof c === 'string') this.#toolCall(a, b, c);
        return;
      case 'store':
        if (typeof a === 'string' && typeof b === 'string') this.#writes.set(a, b);
        return;
      case 'yield':
        if (this.#observer?.mode.kind === 'yieldAfter') this.#yield();
        return;
      case 'done':
      case 'exit':
        this.#finish(undefined);
        return;
      case 'fault':
        this.#finish(typeof a === 'string' ? a : 'Error: uncaught exception in a timer');
        return;
      case 'timer':
        if (typeof a === 'number' && typeof b === 'number') this.#setTimer(a, b);
        return;
      case 'clearTimer':
        if (typeof a === 'number') {
          clearTimeout(this.#timers.get(a));
          this.#timers.delete(a);
        }
        return;
    }
  }

  #addOutput(item: OutputItem): void {
    const size = item.type === 'text' ? byteLength(item.text) : byteLength(item.imageUrl);
    if (this.#outputBytes + size > this.#options.limits.maxOutputBytes) {
      this.#terminateInternal('outputLimit');
      return;
    }
    this.#outputBytes += size;
    this.#items.push(item);
    this.#options.emit({ type: 'output', item });
  }

  #notify(text: string): void {
    const { delegate, toolCallId, logger, emit } = this.#options;
    if (this.#callbacks.notificationBacklog >= MAX_NOTIFICATION_BACKLOG) {
      logger.warn(`codecell: cell ${this.id} queued more than ${MAX_NOTIFICATION_BACKLOG} undelivered notifications; terminating it`);
      this.#terminateInternal('outputLimit');
      return;
    }
    emit({ type: 'notification', text });
    const notification = { cellId: this.id, callId: toolCallId, text };
    this.#callbacks
      .notify((signal) => delegate.notify(notification, signal))
      .catch((error: unknown) => {
        if (!(error instanceof CodeCellError && error.code === 'ERR_CANCELLED')) {
          logger.warn(`codecell: notify for cell ${this.id} failed: ${messageOf(error)}`);
        }
      });
  }

  #toolCall(callId: string, index: number, inputJson: string): void {
    const tool = this.#options.tools[index];
    if (tool === undefined || !/^tool-\d+$/.test(callId) || this.#outstanding.has(callId)) return;
    const { limits, delegate, emit } = this.#options;
    const name = `tools.${tool.id}`;
    const inputBytes = byteLength(inputJson);
    let input: JsonValue | undefined;
    try {
      if (this.#outstanding.size >= MAX_OUTSTANDING_TOOL_CALLS) {
        throw new Error(`${name} refused: ${MAX_OUTSTANDING_TOOL_CALLS} tool calls of this cell are already in flight`);
      }
      if (inputBytes > limits.maxToolInputBytes) {
        throw new Error(`${name} input is ${inputBytes} bytes, over the maxToolInputBytes limit of ${limits.maxToolInputBytes}`);
      }
      input = parseJsonText(inputJson);
      // The sandbox checked this too, but a cell can bend its own checks (toJSON, prototypes).
      const isObject = input !== null && typeof input === 'object' && !Array.isArray(input);
      if (tool.kind === 'function' ? !isObject : typeof input !== 'string') {
        throw new TypeError(`${name} expects ${tool.kind === 'function' ? 'an object' : 'a string'} input`);
      }
    } catch (error) {
      this.#isolate.deliver('settle', callId, false, messageOf(error));
      return;
    }
    const { name: toolName, namespace } = tool.definition;
    const toolRef = namespace === undefined ? { name: toolName } : { name: toolName, namespace };
    this.#outstanding.add(callId);
    emit({ type: 'toolCall', callId, tool: toolRef, input });
    const call = { cellId: this.id, callId, tool: toolRef, kind: tool.kind, input };
    this.#callbacks
      .runTool((signal) => delegate.invokeTool(call, signal))
      .then(
        (value) => {
          let payload: string;
          try {
            payload = toJsonText(value);
          } catch (error) {
            throw new Error(`${name} returned a value that is not JSON: ${messageOf(error)}`);
          }
          const size = byteLength(payload);
          if (size > limits.maxToolResultBytes) {
            throw new Error(`${name} result is ${size} bytes, over the maxToolResultBytes limit of ${limits.maxToolResultBytes}`);
          }
          return payload;
        },
      )
      .then(
        (payload) => this.#settleTool(callId, true, payload),
        (error: unknown) => this.#settleTool(callId, false, messageOf(error)),
      );
  }

  #settleTool(callId: string, ok: boolean, payload: string): void {
    // After the cell ended, results are abandoned: no event, no delivery.
    if (this.#phase !== 'running' || !this.#outstanding.delete(callId)) return;
    this.#options.emit(ok ? { type: 'toolResult', callId, ok } : { type: 'toolResult', callId, ok, error: payload });
    this.#isolate.deliver('settle', callId, ok, payload);
  }

  #setTimer(id: number, ms: number): void {
    if (this.#timers.size >= MAX_HOST_TIMERS || this.#timers.has(id)) return;
    const delay = Number.isFinite(ms) ? Math.min(Math.max(ms, 0), 2_147_483_647) : 0;
    this.#timers.set(
      id,
      setTimeout(() => {
        this.#timers.delete(id);
        this.#isolate.deliver('timer', id);
      }, delay),
    );
  }

  // --- observation ---

  #onIdle(): void {
    if (this.#phase === 'running' && this.#observer?.mode.kind === 'pendingFrontier') {
      this.#resolveObserver(this.#intermediate('pending'));
    }
  }

  #yield(): void {
    if (this.#observer !== undefined && this.#terminal === undefined) {
      this.#resolveObserver(this.#intermediate('yielded'));
    }
  }

  #drainItems(): OutputItem[] {
    return this.#items.splice(0, this.#items.length);
  }

  #intermediate(kind: 'yielded' | 'pending'): CellEvent {
    const items = this.#drainItems();
    return kind === 'yielded'
      ? { kind, cellId: this.id, items }
      : { kind, cellId: this.id, items, pendingToolCallIds: [...this.#outstanding] };
  }

  #takeTerminal(): CellEvent {
    const terminal = this.#terminal;
    if (terminal === undefined) throw new Error('codecell: no terminal event to take');
    const event: CellEvent = { ...terminal, items: this.#drainItems() };
    this.#deliveredTerminal = event;
    queueMicrotask(() => this.#maybeClose());
    return event;
  }

  #detachObserver(): Observer | undefined {
    const observer = this.#observer;
    if (observer?.timer !== undefined) clearTimeout(observer.timer);
    this.#observer = undefined;
    return observer;
  }

  #resolveObserver(event: CellEvent): void {
    this.#detachObserver()?.resolve(event);
  }

  #end(terminal: TerminalCellEvent): void {
    this.#terminal = terminal;
    this.#phase = 'ended';
    if (this.#observer !== undefined) this.#resolveObserver(this.#takeTerminal());
  }

  // --- ending ---

  /** `now` disposes the isolate at once (it may be running); else it is only stopped for now. */
  #stopIsolate(now: boolean): void {
    if (now) this.#isolate.dispose();
    else this.#isolate.stop();
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    for (const stopWatching of this.#watchers.splice(0)) stopWatching();
  }

  /** Natural completion: cancel dangling tools, drain notifications, commit, then `completed`. */
  #finish(error: string | undefined): void {
    if (this.#phase !== 'running') return;
    this.#phase = 'finishing';
    // The module has settled: nothing is left to run, so disposal can wait until the event is out.
    this.#stopIsolate(false);
    const { callbackAbortDeadlineMs, limits } = this.#options;
    const dangling = [...this.#outstanding];
    if (dangling.length > 0) {
      this.#items.push({
        type: 'text',
        text: `Warning: ${dangling.length} tool call(s) were still running when the cell finished: ${dangling.join(', ')}`,
      });
    }
    this.#callbacks.abort(new CodeCellError('ERR_CANCELLED', `cell ${this.id} finished before the tool call settled`), ['tool']);
    const toolsDeadline = new Deadline(callbackAbortDeadlineMs);
    this.#callbacksSettled = this.#callbacks.settle(toolsDeadline, ['tool']).finally(() => toolsDeadline.clear());
    const drainStop = new AbortController();
    this.#drainStop = drainStop;
    const drainTimer = setTimeout(() => drainStop.abort(), limits.completionDrainMs);
    void this.#callbacks
      .drainNotifications(drainStop.signal)
      .then(async (drained) => {
        clearTimeout(drainTimer);
        if (this.#phase !== 'finishing') return;
        if (!drained) {
          this.#callbacks.abort(new CodeCellError('ERR_CANCELLED', `cell ${this.id} notifications exceeded completionDrainMs`), ['notification']);
          const deadline = new Deadline(callbackAbortDeadlineMs);
          await this.#callbacks.settle(deadline, ['notification']);
          deadline.clear();
          if (this.#phase !== 'finishing') return;
        }
        this.#options.commitStore(this.#writes);
        this.#end(error === undefined ? { kind: 'completed', cellId: this.id, items: [] } : { kind: 'completed', cellId: this.id, items: [], error });
        setImmediate(() => this.#isolate.dispose());
      })
      .catch((failure: unknown) => this.#options.logger.error(`codecell: completing cell ${this.id} failed: ${messageOf(failure)}`));
  }

  #terminateInternal(reason: TerminationReason): void {
    if (this.#phase !== 'running' && this.#phase !== 'finishing') return;
    this.#termination = this.#terminate(reason);
  }

  /** Stops the isolate now, cancels every callback under one deadline, then `terminated`. */
  async #terminate(reason: TerminationReason, deadline?: Deadline): Promise<void> {
    this.#phase = 'terminating';
    this.#stopIsolate(true);
    this.#drainStop?.abort();
    this.#callbacks.abort(new CodeCellError('ERR_CANCELLED', `cell ${this.id} was terminated (${reason})`));
    const own = deadline ?? new Deadline(this.#options.callbackAbortDeadlineMs);
    // The isolate's thread unwinds (a few ms at most) while the callbacks are waited for.
    await Promise.all([this.#callbacks.settle(own), this.#isolate.stopped]);
    if (deadline === undefined) own.clear();
    this.#callbacksSettled = Promise.resolve();
    this.#end({ kind: 'terminated', cellId: this.id, items: [], reason });
  }

  #maybeClose(): void {
    if (this.#closingStarted || this.#phase !== 'ended' || this.#deliveredTerminal === undefined) return;
    this.#closingStarted = true;
    const event = this.#deliveredTerminal;
    void Promise.all([this.#callbacksSettled, this.#isolate.stopped]).then(() => this.#close(event));
  }

  async #close(event: CellEvent): Promise<void> {
    this.#phase = 'closing';
    const { delegate, logger, onClosing, emit } = this.#options;
    onClosing();
    emit({ type: 'closed', event });
    try {
      await delegate.cellClosed?.(this.id);
    } catch (error) {
      logger.warn(`codecell: cellClosed(${this.id}) threw: ${messageOf(error)}`);
    } finally {
      this.#phase = 'closed';
      this.#markClosed();
    }
  }
}
