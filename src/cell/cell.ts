// One running cell: it owns its isolate, output, observer slot, delegate calls and timers, and
// moves through the phases of lifecycle.ts.
import { CodeCellError, isCodeCellError, messageOf } from '../errors.js';
import type { CellIsolate } from '../isolate/cell-isolate.js';
import type { CellEvent, CellId, ObserveMode, OutputItem, TerminalCellEvent, TerminationReason } from '../types.js';
import { CallbackSet } from './callbacks.js';
import { Deadline } from './deadline.js';
import { isLive, isSpeaking, isUnended, transition, type CellState, type StateOf } from './lifecycle.js';
import { busyObserverError, ObserverSlot } from './observer.js';
import { Notifications } from './notifications.js';
import { OutputBuffer } from './output.js';
import { FloatingRejections } from './rejections.js';
import { reactToSandbox, type SandboxReactions } from './sandbox-messages.js';
import { SandboxTimers, watchTimeLimits } from './timers.js';
import { danglingWarning, hintMissingTool, ToolCalls, type ToolCallsOptions } from './tool-calls.js';
import type { CellOptions } from './options.js';

export class Cell {
  readonly id: CellId;
  readonly #options: CellOptions;
  readonly #isolate: CellIsolate;
  readonly #callbacks: CallbackSet;
  readonly #output: OutputBuffer;
  readonly #toolCalls: ToolCalls;
  readonly #notifications: Notifications;
  readonly #timers: SandboxTimers;
  readonly #observer = new ObserverSlot();
  readonly #writes = new Map<string, string>();
  readonly #rejections: FloatingRejections;
  readonly #closed = Promise.withResolvers<void>();
  #state: CellState = { phase: 'running' };
  /** The termination under way or done (a limit, terminate() or shutdown). */
  #termination: Promise<void> | undefined;
  #terminateCalled = false;
  /** The committed terminal event nobody has taken yet. */
  #unread: CellEvent | undefined;
  #stopWatching: () => void = () => {};

  constructor(isolate: CellIsolate, options: CellOptions) {
    this.id = options.id;
    this.#options = options;
    this.#isolate = isolate;
    this.#callbacks = new CallbackSet({ maxConcurrentToolCalls: options.limits.maxConcurrentToolCalls });
    this.#output = new OutputBuffer(options.limits.maxOutputBytes);
    this.#rejections = new FloatingRejections(() => isolate.deliver('watchRejections'));
    this.#timers = new SandboxTimers((id) => isolate.deliver('timer', id));
    const { id: cellId, tools, limits, delegate, emit } = options;
    const callbacks = this.#callbacks;
    const settle: ToolCallsOptions['settle'] = (...outcome) => isolate.deliver('settle', ...outcome);
    const accepting = (): boolean => this.#state.phase === 'running';
    this.#toolCalls = new ToolCalls({ cellId, tools, limits, delegate, callbacks, emit, settle, accepting });
    this.#notifications = new Notifications(options, callbacks);
    const end = (reason: TerminationReason) => () => this.#terminateInternal(reason);
    // A rejection is judged when the cell finishes (SPEC §5), unless the cell handles it meanwhile.
    const rejection = (reason: unknown, fromModule: boolean): void =>
      void (isSpeaking(this.#state) && this.#rejections.add(reason, fromModule && this.#state.phase === 'running'));
    const reactions = this.#reactions();
    isolate.listen({
      message: (message) => isSpeaking(this.#state) && reactToSandbox(message, reactions, limits.maxNotificationBytes),
      idle: () => this.#onIdle(),
      fault: end('memoryLimit'),
      flood: end('outputLimit'),
      rejection,
    });
  }

  /** False once the terminal event was delivered: the cell can no longer be addressed. */
  get isOpen(): boolean {
    return isUnended(this.#state) || this.#unread !== undefined;
  }

  /** Resolves when the cell is closed (cellClosed returned). */
  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  /** Starts evaluating the module (its time counts from when it runs: it may wait for a slot). */
  start(source: string, filename: string, configText: string): void {
    const timeLimit = (): void => this.#terminateInternal('timeLimit');
    const running = (): void =>
      void (this.#stopWatching = watchTimeLimits(this.#options.limits, () => this.#isolate.cpuTimeMs, timeLimit));
    const failed = (error: unknown): void =>
      isCodeCellError(error, 'ERR_MEMORY_LIMIT')
        ? this.#terminateInternal('memoryLimit')
        : this.#settle(`Error: ${messageOf(error)}`, '');
    this.#isolate
      .start(source, filename, configText, running)
      .then(({ error }) => error !== undefined && this.#settle(error, ''), failed);
  }

  /** Completes the cell with an error without running it (its source did not compile). */
  fail = (error: string): void => this.#settle(error, '');

  /**
   * Attaches the one observer. Throws ERR_BUSY_OBSERVER synchronously; the returned promise
   * settles with the next event. `signal` detaches the observer without draining anything.
   */
  observe(mode: ObserveMode, signal?: AbortSignal): Promise<CellEvent> {
    signal?.throwIfAborted();
    if (this.#observer.busy) throw busyObserverError(this.id);
    if (!isUnended(this.#state)) return Promise.resolve(this.#takeUnread());
    if (mode.kind === 'yieldAfter' && mode.ms === 0) return Promise.resolve(this.#intermediate('yielded'));
    const event = this.#observer.attach(mode, () => this.#yield(), signal);
    if (mode.kind === 'pendingFrontier') this.#onIdle();
    return event;
  }

  /** Public terminate (SPEC §4): the terminated event, or the completed one if that won. */
  async terminate(): Promise<CellEvent> {
    if (this.#terminateCalled)
      throw new CodeCellError('ERR_ALREADY_TERMINATING', `cell ${this.id} is already terminating`);
    this.#terminateCalled = true;
    this.#terminateInternal('requested');
    await this.#termination;
    if (this.#unread !== undefined) return this.#takeUnread();
    if (this.#state.phase === 'closing' || this.#state.phase === 'closed') return this.#state.event;
    throw new Error(`codecell: cell ${this.id} has no terminal event after terminating`);
  }

  /** Ends the cell for a session shutdown under the session's one deadline, and closes it. */
  async shutdown(deadline: Deadline): Promise<void> {
    if (isLive(this.#state)) this.#termination = this.#terminate(this.#state, 'shutdown', deadline);
    await this.#termination;
    // Nobody is left to read a buffered terminal event.
    this.#unread = undefined;
    await Promise.race([this.#closed.promise, deadline.reached]);
    // Never report the session shut down while an isolate thread may still run: a process that
    // exits then can crash in isolated-vm's teardown.
    await this.#isolate.stopped;
  }

  #reactions(): SandboxReactions {
    return {
      output: (item) => this.#addOutput(item),
      notify: (message) => this.#notifications.send(message),
      tool: (callId, index, json) => this.#toolCalls.start(callId, index, json),
      store: (key, json) => void this.#writes.set(key, json),
      yieldControl: () => this.#observer.mode?.kind === 'yieldAfter' && this.#yield(),
      settle: (error, unsettled, drain) => this.#settle(error, unsettled, drain),
      ignoreRejections: () => this.#rejections.ignore(),
      setTimer: (id, delayMs) => this.#timers.set(id, delayMs),
      clearTimer: (id) => this.#timers.clear(id),
      handled: (key) => this.#rejections.handled(key),
      terminate: (reason) => this.#terminateInternal(reason),
    };
  }

  #addOutput(item: OutputItem): void {
    if (this.#output.add(item)) this.#options.emit({ type: 'output', item });
    else this.#terminateInternal('outputLimit');
  }

  /**
   * The isolate went idle (or a frontier observer attached): judge the frontier on the next turn,
   * once tool results the delegate already settled have reached the isolate.
   */
  #onIdle(): void {
    if (this.#state.phase === 'running' && this.#timers.size === 0 && this.#toolCalls.outstanding === 0) {
      const escaped = this.#rejections.takeEscaped();
      if (escaped !== undefined) return this.#settle(escaped, '');
    }
    if (this.#state.phase !== 'running' || this.#observer.mode?.kind !== 'pendingFrontier') return;
    setImmediate(() => {
      if (this.#state.phase === 'running' && this.#isolate.isIdle && this.#observer.mode?.kind === 'pendingFrontier') {
        this.#observer.resolve(this.#intermediate('pending'));
      }
    });
  }

  #yield(): void {
    if (this.#observer.busy && isUnended(this.#state)) this.#observer.resolve(this.#intermediate('yielded'));
  }

  #intermediate(kind: 'yielded' | 'pending'): CellEvent {
    const items = this.#output.drain();
    return kind === 'yielded'
      ? { kind, cellId: this.id, items }
      : { kind, cellId: this.id, items, pendingToolCallIds: this.#toolCalls.pending };
  }

  /** Hands out the committed terminal event once; the id is forgotten then. */
  #takeUnread(): CellEvent {
    const event = this.#unread;
    if (event === undefined) throw new CodeCellError('ERR_MISSING_CELL', `unknown cell ${this.id}`);
    this.#unread = undefined;
    this.#options.onTaken();
    return event;
  }

  /** Commits the outcome: to the observer, or buffered for the next one; then winds down. */
  #end(from: StateOf<'finishing' | 'terminating'>, terminal: TerminalCellEvent, settled: Promise<void>): void {
    const event: CellEvent = { ...terminal, items: this.#output.drain() };
    const closing = transition(from, { phase: 'closing', event, settled });
    this.#state = closing;
    const observed = this.#observer.busy;
    if (!observed) this.#unread = event;
    this.#options.onCommit(!observed);
    if (observed) this.#observer.resolve(event);
    queueMicrotask(() => void Promise.all([settled, this.#isolate.stopped]).then(() => this.#close(closing)));
  }

  /** `now` disposes the isolate at once (it may be running); else it is only stopped for now. */
  #stopIsolate(now: boolean): void {
    if (now) this.#isolate.dispose();
    else this.#isolate.stop();
    this.#timers.clearAll();
    this.#stopWatching();
  }

  /** The module settled: the microtasks it queued run (their output counts), then it finishes. */
  #settle(error: string | undefined, unsettled: string, drain = true): void {
    const running = this.#state;
    if (running.phase !== 'running') return;
    const settling = transition(running, {
      phase: 'settling',
      error: hintMissingTool(error, this.#options.tools),
      dangling: unsettled === '' ? [] : unsettled.split(','),
    });
    this.#state = settling;
    // Bounded: microtasks that queue themselves forever (or code past a caught exit) are cut off.
    const drained = drain ? this.#isolate.drain() : Promise.resolve(false);
    void drained.then((done) => {
      if (this.#state !== settling) return;
      if (!done) this.#isolate.dispose();
      this.#finish(settling);
    });
  }

  /** Natural completion: cancel dangling tools, drain notifications, commit, then `completed`. */
  #finish(settling: StateOf<'settling'>): void {
    const { error } = settling;
    const finishing = transition(settling, { phase: 'finishing', error, drainStop: new AbortController() });
    this.#state = finishing;
    // The module has settled: nothing is left to run, so disposal can wait until the event is out.
    this.#stopIsolate(false);
    // What the cell had not received when its module settled, and calls its microtasks made since;
    // then the rejections it left unhandled.
    for (const warning of [
      ...danglingWarning([...settling.dangling, ...this.#toolCalls.pending]),
      ...this.#rejections.warnings(),
    ]) {
      this.#addOutput({ type: 'text', text: warning });
      if (this.#state !== finishing) return;
    }
    const { toolsSettled, notificationsDone } = this.#callbacks.windDown(this.id, {
      deadlineMs: this.#options.callbackAbortDeadlineMs,
      drainMs: this.#options.limits.completionDrainMs,
      stop: finishing.drainStop.signal,
    });
    void notificationsDone
      .then((done) => {
        if (!done || this.#state !== finishing) return;
        this.#options.commitStore(this.#writes);
        const completed: TerminalCellEvent = { kind: 'completed', cellId: this.id, items: [] };
        this.#end(finishing, error === undefined ? completed : { ...completed, error }, toolsSettled);
        setImmediate(() => this.#isolate.dispose());
      })
      .catch((failure: unknown) =>
        this.#options.logger.error(`codecell: completing cell ${this.id} failed: ${messageOf(failure)}`),
      );
  }

  #terminateInternal(reason: TerminationReason): void {
    if (isLive(this.#state)) this.#termination = this.#terminate(this.#state, reason);
  }

  /** Stops the isolate now, cancels every callback under one deadline, then `terminated`. */
  async #terminate(
    from: StateOf<'running' | 'settling' | 'finishing'>,
    reason: TerminationReason,
    shared?: Deadline,
  ): Promise<void> {
    const deadline = shared ?? new Deadline(this.#options.callbackAbortDeadlineMs);
    const terminating = transition(from, { phase: 'terminating', reason, deadline });
    this.#state = terminating;
    this.#stopIsolate(true);
    if (from.phase === 'finishing') from.drainStop.abort();
    this.#callbacks.abort(new CodeCellError('ERR_CANCELLED', `cell ${this.id} was terminated (${reason})`));
    // The isolate's thread unwinds (a few ms, unless a long built-in such as a huge sort holds
    // it) while the callbacks are waited for; neither is waited for past the deadline.
    await Promise.all([this.#callbacks.settle(deadline), Promise.race([this.#isolate.stopped, deadline.reached])]);
    if (shared === undefined) deadline.clear();
    this.#end(terminating, { kind: 'terminated', cellId: this.id, items: [], reason }, Promise.resolve());
  }

  async #close(closing: StateOf<'closing'>): Promise<void> {
    const { delegate, logger, emit } = this.#options;
    emit({ type: 'closed', event: closing.event });
    try {
      await delegate.cellClosed?.(this.id);
    } catch (error) {
      logger.warn(`codecell: cellClosed(${this.id}) threw: ${messageOf(error)}`);
    } finally {
      this.#state = transition(closing, { phase: 'closed', event: closing.event });
      this.#options.onClosed();
      this.#closed.resolve();
    }
  }
}
