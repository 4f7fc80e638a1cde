// One cell's run: its isolate, output, observer slot, delegate calls, timers and journal; what its
// sandbox sends; the phases of lifecycle.ts to its end (completed, or terminated under the shared
// deadline) and its close. Its pauses and runs from its journal are the Cell's own (cell.ts).
import { CodeCellError, isCodeCellError, messageOf } from '../errors.js';
import type { CellRunIsolate } from '../isolate/cell-isolate.js';
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
import { hintMissingTool } from './missing-tool.js';
import { danglingWarning, toolRefOf, ToolCalls, type ListedCalls, type PausedCall } from './tool-calls.js';
import { CellJournal } from './journal.js';
import { CellJournaling, type Program } from './cell-journaling.js';
import { CallSpans, endCellSpan, type TraceSpan } from '../tracing.js';
import { mayWait, type CellOptions } from './options.js';

export abstract class CellRun {
  readonly id: CellId;
  protected readonly options: CellOptions;
  /** This run's isolate (a resumed cell runs in a new one). */
  protected isolate: CellRunIsolate;
  protected readonly callbacks: CallbackSet;
  protected readonly output: OutputBuffer;
  protected readonly toolCalls: ToolCalls;
  readonly #notifications: Notifications;
  readonly #timers: SandboxTimers;
  protected readonly observer = new ObserverSlot();
  protected readonly writes = new Map<string, string>();
  protected rejections: FloatingRejections;
  protected readonly durability: CellJournaling;
  /** This run's span (SPEC §14), when traced; a resumed cell's run gets one of its own. */
  protected span: TraceSpan | undefined;
  readonly #spans = new CallSpans();
  readonly #closed = Promise.withResolvers<void>();
  protected state: CellState = { phase: 'running' };
  /** The termination under way or done (a limit, terminate() or shutdown). */
  #termination: Promise<void> | undefined;
  #terminateCalled = false;
  /** The committed terminal event nobody has taken yet. */
  #unread: CellEvent | undefined;
  #stopWatching: () => void = () => {};
  /** What the cell returned at its top level (`return value`): its completed event's result. */
  #returned: Pick<Extract<CellEvent, { kind: 'completed' }>, 'result'> = {};

  constructor(isolate: CellRunIsolate, options: CellOptions) {
    this.id = options.id;
    this.options = options;
    this.isolate = isolate;
    this.span = options.span;
    this.callbacks = new CallbackSet({ maxConcurrentToolCalls: options.limits.maxConcurrentToolCalls });
    this.output = new OutputBuffer(options.limits.maxOutputBytes, options.limits.maxResultBytes);
    this.rejections = this.newRejections();
    this.durability = new CellJournaling(
      {
        isolate: () => this.isolate,
        paused: () => this.state.phase === 'interrupted',
        live: (timers) => this.#goLive(timers),
      },
      options.journal ?? new CellJournal(options.limits.journalMaxBytes, options.deterministic?.seed),
      options.deterministic,
    );
    const durability = this.durability;
    this.#timers = new SandboxTimers((id) => durability.deliver({ kind: 'timer', id }));
    this.toolCalls = new ToolCalls({
      ...options,
      callbacks: this.callbacks,
      settle: (callId, ok, payload, errorKind) => durability.settle(callId, ok, payload, errorKind),
      // An interrupted cell's calls still in flight keep their outcomes for its next run.
      accepting: () => this.state.phase === 'running' || this.state.phase === 'interrupted',
      recorded: () => void (this.isolate.isIdle && this.#onIdle()),
      journal: durability.journal,
      interrupt: (call: PausedCall, payload: unknown) => this.interrupt(call, payload),
      span: () => this.span,
      spans: this.#spans,
    });
    const spans = { span: () => this.span, spans: this.#spans };
    this.#notifications = new Notifications(options, this.callbacks, spans);
    this.listen(isolate);
  }

  protected listen(isolate: CellRunIsolate): void {
    const end = (reason: TerminationReason) => () => this.terminateWith(reason);
    // A rejection is judged when the cell finishes (SPEC §5), unless the cell handles it meanwhile.
    const rejection = (reason: unknown, fromModule: boolean): void =>
      void (isSpeaking(this.state) && this.rejections.add(reason, fromModule && this.state.phase === 'running'));
    const reactions = this.#reactions();
    const { maxNotificationBytes } = this.options.limits;
    isolate.listen({
      message: (message) => isSpeaking(this.state) && reactToSandbox(message, reactions, maxNotificationBytes),
      idle: () => this.#onIdle(),
      fault: end('memoryLimit'),
      flood: end('outputLimit'),
      rejection,
    });
  }

  protected newRejections = (): FloatingRejections =>
    new FloatingRejections(() => this.isolate.deliver('watchRejections'));

  /** False once the terminal event was delivered: the cell can no longer be addressed. */
  get isOpen(): boolean {
    return isUnended(this.state) || this.#unread !== undefined;
  }

  /** The isolate heap a run of this cell takes (MiB). */
  get memoryMb(): number {
    return this.options.limits.memoryMb;
  }

  /** Resolves when the cell is closed (cellClosed returned). */
  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  /** Starts evaluating the module (its time counts from when it runs: it may wait for a slot). */
  start(program: Program): void {
    this.durability.starts(program);
    this.run(program.source, program.filename, program.config);
  }

  protected run(source: string, filename: string, configText: string): void {
    const journal = this.durability.sandboxJournal();
    const timeLimit = (why: string): void => this.terminateWith('timeLimit', why);
    const running = (): void =>
      void (this.#stopWatching = watchTimeLimits(this.options.limits, () => this.isolate.cpuTimeMs, timeLimit));
    const failed = (error: unknown): void =>
      isCodeCellError(error, 'ERR_MEMORY_LIMIT')
        ? this.terminateWith('memoryLimit')
        : this.#settle(`Error: ${messageOf(error)}`, '');
    // A run from a journal whose sandbox's waits took deliveries answers its asks as that run's were.
    const asks = this.durability.journal.asks;
    if (this.durability.replaying) this.isolate.replaying(new Set(asks));
    const waits = mayWait(this.options) || asks.length > 0;
    this.isolate
      .start(source, filename, { text: configText, journal, waits }, running)
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
    if (this.observer.busy) throw busyObserverError(this.id);
    if (this.state.phase === 'interrupted') return Promise.resolve(this.durability.takePaused(this.state.event));
    if (!isUnended(this.state)) return Promise.resolve(this.#takeUnread());
    if (mode.kind === 'yieldAfter' && mode.ms === 0) return Promise.resolve(this.#intermediate('yielded'));
    const event = this.observer.attach(mode, () => this.#yield(), signal);
    if (mode.kind === 'pendingFrontier') this.#onIdle();
    return event;
  }

  /** Public terminate (SPEC §4): the terminated event, or the completed one if that won. */
  async terminate(): Promise<CellEvent> {
    if (this.#terminateCalled)
      throw new CodeCellError('ERR_ALREADY_TERMINATING', `cell ${this.id} is already terminating`);
    this.#terminateCalled = true;
    this.terminateWith('requested');
    await this.#termination;
    if (this.#unread !== undefined) return this.#takeUnread();
    if (this.state.phase === 'closing' || this.state.phase === 'closed') return this.state.event;
    throw new Error(`codecell: cell ${this.id} has no terminal event after terminating`);
  }

  /** Ends the cell for a session shutdown under the session's one deadline, and closes it. */
  async shutdown(deadline: Deadline): Promise<void> {
    if (isLive(this.state)) this.#termination = this.#terminate(this.state, 'shutdown', { shared: deadline });
    await this.#termination;
    // Nobody is left to read a buffered terminal event.
    this.#unread = undefined;
    await Promise.race([this.#closed.promise, deadline.reached]);
    // Never report the session shut down while an isolate thread may still run: a process that
    // exits then can crash in isolated-vm's teardown.
    await this.isolate.stopped;
  }

  #reactions(): SandboxReactions {
    return {
      output: (item) => this.durability.output() && this.#addOutput(item),
      returned: (result) => void (this.#returned = result),
      notify: (message) => !this.durability.notification() || this.#notifications.send(message),
      tool: (callId, index, json) => {
        const verdict = this.durability.call(callId, index, json);
        if (verdict === 'live') this.toolCalls.start(callId, index, json);
        else if (verdict === 'diverged') this.terminateWith('replayDiverged');
      },
      clock: (values) => this.durability.journal.recordClock(values),
      store: (key, json) => void this.writes.set(key, json),
      yieldControl: () => this.observer.mode?.kind === 'yieldAfter' && this.#yield(),
      settle: (error, unsettled, drain) => this.#settle(error, unsettled, drain),
      ignoreRejections: () => this.rejections.ignore(),
      setTimer: (id, delayMs) => this.durability.timer(id, delayMs) || this.#timers.set(id, delayMs),
      clearTimer: (id) => this.durability.clearTimer(id) || this.#timers.clear(id),
      handled: (key) => this.rejections.handled(key),
      terminate: (reason) => this.terminateWith(reason),
    };
  }

  /** The replay made every recorded delivery: the timers it held start, as set, and it goes on live. */
  #goLive(timers: ReadonlyMap<number, number>): void {
    // Its asks take deliveries as they come now, unless it may not wait (it waited only to replay).
    this.isolate.replaying(mayWait(this.options) ? undefined : new Set());
    for (const [id, delayMs] of timers) this.#timers.set(id, delayMs);
    if (this.isolate.isIdle) this.#onIdle();
  }

  /** A CellInterrupt answered `call`: the cell pauses, or says why not (the call fails). See cell.ts. */
  protected abstract interrupt(call: PausedCall, payload: unknown): string | undefined;
  /** The cell waits: it pauses at a call that asked to while it could not (true when it did). */
  protected abstract pauseQueued(): boolean;

  #addOutput(item: OutputItem): void {
    if (this.output.add(item)) this.options.emit({ type: 'output', item });
    else this.terminateWith('outputLimit');
  }

  /** The isolate went idle (or a frontier observer attached): judge the frontier next turn, after settled results. */
  #onIdle(): void {
    // A run from the journal that waits with recorded work undone will never do it: it diverged.
    if (this.durability.replaying) {
      if (this.state.phase === 'running' && this.isolate.isIdle) this.terminateWith('replayDiverged');
      return;
    }
    if (this.state.phase === 'running' && this.pauseQueued()) return;
    if (this.state.phase === 'running' && this.#timers.size === 0 && this.toolCalls.outstanding === 0) {
      const escaped = this.rejections.takeEscaped();
      if (escaped !== undefined) return this.#settle(escaped, '');
    }
    if (this.state.phase !== 'running' || this.observer.mode?.kind !== 'pendingFrontier') return;
    setImmediate(() => {
      // An outcome waiting for its record (with a store) goes in first: it is no frontier yet.
      if (this.toolCalls.recording > 0) return;
      if (this.state.phase === 'running' && this.isolate.isIdle && this.observer.mode?.kind === 'pendingFrontier') {
        this.observer.resolve(this.#intermediate('pending'));
      }
    });
  }

  #yield(): void {
    if (this.observer.busy && isUnended(this.state)) this.observer.resolve(this.#intermediate('yielded'));
  }

  #intermediate(kind: 'yielded' | 'pending'): CellEvent {
    const items = this.output.drain();
    return kind === 'yielded'
      ? { kind, cellId: this.id, items }
      : { kind, cellId: this.id, items, pendingToolCallIds: this.toolCalls.pending };
  }

  /** Hands out the committed terminal event once; the id is forgotten then. */
  #takeUnread(): CellEvent {
    const event = this.#unread;
    if (event === undefined) throw new CodeCellError('ERR_MISSING_CELL', `unknown cell ${this.id}`);
    this.#unread = undefined;
    this.options.onTaken();
    return event;
  }

  /** Commits the outcome: to the observer, or buffered for the next one; then winds down. */
  #end(from: StateOf<'finishing' | 'terminating'>, terminal: TerminalCellEvent, settled: Promise<void>): void {
    const event: CellEvent = { ...terminal, items: this.output.drain() };
    this.options.onEnd?.(event);
    this.endSpan(event);
    const closing = transition(from, { phase: 'closing', event, settled });
    this.state = closing;
    const observed = this.observer.busy;
    if (!observed) this.#unread = event;
    this.options.onCommit(!observed);
    if (observed) this.observer.resolve(event);
    queueMicrotask(() => void Promise.all([settled, this.isolate.stopped]).then(() => this.#close(closing)));
  }

  /** `now` disposes the isolate at once (it may be running); else it is only stopped for now. */
  protected stopIsolate(now: boolean): void {
    if (now) this.isolate.dispose();
    else this.isolate.stop();
    this.#timers.clearAll();
    this.#stopWatching();
  }

  /** The module settled: the microtasks it queued run (their output counts), then it finishes. */
  #settle(error: string | undefined, unsettled: string, drain = true): void {
    const running = this.state;
    if (running.phase !== 'running') return;
    // A run from the journal that ends before making what the recorded run made diverged from it.
    if (this.durability.replaying) return this.terminateWith('replayDiverged');
    const settling = transition(running, {
      phase: 'settling',
      error: hintMissingTool(error, this.options.tools),
      dangling: unsettled === '' ? [] : unsettled.split(','),
    });
    this.state = settling;
    // Bounded: microtasks that queue themselves forever (or code past a caught exit) are cut off.
    const drained = drain ? this.isolate.drain() : Promise.resolve(false);
    void drained.then((done) => {
      if (this.state !== settling) return;
      if (!done) this.isolate.dispose();
      this.#finish(settling);
    });
  }

  /** Natural completion: cancel dangling tools, drain notifications, commit, then `completed`. */
  #finish(settling: StateOf<'settling'>): void {
    const { error } = settling;
    const finishing = transition(settling, { phase: 'finishing', error, drainStop: new AbortController() });
    this.state = finishing;
    // The module has settled: nothing is left to run, so disposal can wait until the event is out.
    this.stopIsolate(false);
    // What the cell had not received when its module settled, and calls its microtasks made since;
    // then the rejections it left unhandled.
    for (const warning of [
      ...danglingWarning([...settling.dangling, ...this.toolCalls.pending]),
      ...this.rejections.warnings(),
    ]) {
      this.#addOutput({ type: 'text', text: warning });
      if (this.state !== finishing) return;
    }
    const { toolsSettled, notificationsDone } = this.callbacks.windDown(this.id, {
      deadlineMs: this.options.callbackAbortDeadlineMs,
      drainMs: this.options.limits.completionDrainMs,
      stop: finishing.drainStop.signal,
    });
    void notificationsDone
      .then((done) => {
        if (!done || this.state !== finishing) return;
        this.options.commitStore(this.writes);
        const completed: TerminalCellEvent = { kind: 'completed', cellId: this.id, items: [], ...this.#returned };
        this.#end(finishing, error === undefined ? completed : { ...completed, error }, toolsSettled);
        setImmediate(() => this.isolate.dispose());
      })
      .catch((failure: unknown) =>
        this.options.logger.error(`codecell: completing cell ${this.id} failed: ${messageOf(failure)}`),
      );
  }

  /** Terminates the cell: its event lists `calls` (a divergence: its journal's). */
  protected terminateWith(reason: TerminationReason, detail?: string, calls?: ListedCalls): void {
    if (isLive(this.state)) this.#termination = this.#terminate(this.state, reason, { detail, listed: calls });
  }

  /** Stops the isolate now, cancels every callback under one deadline, then `terminated`. */
  async #terminate(
    from: StateOf<'running' | 'settling' | 'finishing' | 'interrupted'>,
    reason: TerminationReason,
    { shared, detail, listed }: { shared?: Deadline; detail?: string | undefined; listed?: ListedCalls | undefined },
  ): Promise<void> {
    const deadline = shared ?? new Deadline(this.options.callbackAbortDeadlineMs);
    const terminating = transition(from, { phase: 'terminating', reason, deadline });
    this.state = terminating;
    this.stopIsolate(true);
    if (from.phase === 'finishing') from.drainStop.abort();
    this.callbacks.abort(new CodeCellError('ERR_CANCELLED', `cell ${this.id} was terminated (${reason})`));
    // The isolate's thread unwinds (a few ms, unless a long built-in such as a huge sort holds
    // it) while the callbacks are waited for; neither is waited for past the deadline.
    await Promise.all([this.callbacks.settle(deadline), Promise.race([this.isolate.stopped, deadline.reached])]);
    if (shared === undefined) deadline.clear();
    const toolOf = (index: number) => toolRefOf(this.options.tools[index]);
    const calls =
      listed ?? (reason === 'replayDiverged' ? { toolCalls: this.durability.journal.toolCalls(toolOf) } : {});
    const event: TerminalCellEvent = { kind: 'terminated', cellId: this.id, items: [], reason, ...calls };
    this.#end(terminating, detail === undefined ? event : { ...event, detail }, Promise.resolve());
  }

  /** Ends this run's span with the cell's outcome (SPEC §14). */
  protected endSpan(event: CellEvent): void {
    endCellSpan(this.span, event);
    this.span = undefined;
  }

  async #close(closing: StateOf<'closing'>): Promise<void> {
    this.#spans.abandon();
    const { delegate, logger, emit } = this.options;
    emit({ type: 'closed', event: closing.event });
    try {
      await delegate.cellClosed?.(this.id);
    } catch (error) {
      logger.warn(`codecell: cellClosed(${this.id}) threw: ${messageOf(error)}`);
    } finally {
      this.state = transition(closing, { phase: 'closed', event: closing.event });
      this.options.onClosed();
      this.#closed.resolve();
    }
  }
}
