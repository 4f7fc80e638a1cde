// RemoteSession: a session of codecell-host behind the same CodeCellSession interface as the
// in-process SessionRuntime (protocol v2: execute answers at admission, events by subscription).
import {
  CodeCellError,
  DEFAULT_CALLBACK_ABORT_DEADLINE_MS,
  type CellEvent,
  type CellId,
  type CellStreamEvent,
  type CodeCellSession,
  type EventsOptions,
  type ExecuteRequest,
  type HandOffStream,
  type ObserveMode,
  type PendingEvent,
  type SessionRuntimeDelegate,
  type SessionSnapshot,
  type SessionStreamEvent,
  type StartedCell,
  type SuspendOptions,
} from '../../src/index.js';
import {
  busyObserverError,
  CellStreams,
  checkSuspendOptions,
  Deadline,
  messageOf,
  quiet,
  SessionBase,
} from '../../src/internal.js';
import { untilAborted } from '../wire/signals.js';
import { Methods, type SessionId } from '../wire/protocol.js';
import { serveDelegateCall, settledWithin, type ResultBound } from './incoming-calls.js';
import { InitialEvents } from './initial-events.js';
import { RemoteCells } from './remote-cells.js';
import type { HostLink, Inbound, LinkedSession } from './link.js';

export const DEFAULT_SETUP_TIMEOUT_MS = 60_000;

/** The error of a setup cell that did not reach a frontier in time (in-process and remote alike). */
export const setupTimedOut = (timeoutMs: number): CodeCellError =>
  new CodeCellError('ERR_SETUP_TIMEOUT', `the setup cell did not reach a frontier within ${timeoutMs} ms`);

/** A session of codecell-host (HostClient.createSession): the CodeCellSession interface, remotely. */
export interface RemoteSession extends CodeCellSession {
  /** The session's id on its host. */
  readonly sessionId: SessionId;
  /** The setup cell's id, when the session was created with `setupSource`. */
  readonly setupCellId: CellId | undefined;
  /** The setup cell's first event (frontier or terminal), once createSession resolved. */
  readonly setupEvent: CellEvent | undefined;
  /** The id of the host process this session lives on (undefined over plain streams or a network). */
  readonly hostPid: number | undefined;
  /** The host this session lives on: its `ws(s)://` URL, or `process <pid>` for a spawned one. */
  readonly host: string;
  /**
   * Waits for the running cells to end (`signal` terminates them), then ends the session and
   * returns its snapshot (SessionRuntime's suspend): `HostClient#resumeSession` or
   * `SessionRuntime.resume` make a live session of it, in any process, on any host.
   */
  suspend(options?: SuspendOptions): Promise<SessionSnapshot>;
}

/** The RemoteSession of a HostLink: it receives what the link routes to it. */
export class HostSession extends SessionBase implements RemoteSession, LinkedSession {
  readonly sessionId: SessionId;
  /** The setup cell's id, when the session was created with `setupSource`. */
  readonly setupCellId: CellId | undefined;
  /** The setup cell's first event (frontier or terminal), once createSession resolved. */
  setupEvent: CellEvent | undefined;
  readonly #link: HostLink;
  readonly #delegate: SessionRuntimeDelegate;
  readonly #deadlineMs: number;
  readonly #streams: CellStreams;
  readonly #observing = new Set<CellId>();
  readonly #initial = new InitialEvents();
  /** The setup cell's initial event (see setup). */
  readonly #setupInitial: Promise<CellEvent> | undefined;
  readonly #cells = new RemoteCells();
  #sessionSubscribed = false;
  #hostDead: CodeCellError | undefined;
  /** The delegate's cellClosed calls still running. */
  readonly #cellsClosing = new Set<Promise<void>>();
  /** The session's maxToolResultBytes (session/create says; older hosts do not), and cells' own. */
  readonly #maxResultBytes: number | undefined;
  readonly #cellMaxResultBytes = new Map<CellId, number>();
  readonly #bounds = new Map<number | undefined, ResultBound | undefined>();
  #suspending = false;

  constructor(
    link: HostLink,
    sessionId: SessionId,
    delegate: SessionRuntimeDelegate,
    setupCellId: CellId | undefined,
    deadlineMs: number | undefined,
    maxResultBytes?: number,
  ) {
    super();
    this.#link = link;
    this.sessionId = sessionId;
    this.#delegate = delegate;
    this.setupCellId = setupCellId;
    this.#deadlineMs = deadlineMs ?? DEFAULT_CALLBACK_ABORT_DEADLINE_MS;
    this.#maxResultBytes = maxResultBytes;
    this.#streams = new CellStreams({ logger: link.logger, retainClosed: 64, sessionFromCells: false });
    this.#setupInitial = setupCellId === undefined ? undefined : this.#admitted(setupCellId);
  }

  override get isAlive(): boolean {
    return super.isAlive && this.#hostDead === undefined;
  }

  /** The id of the host process this session lives on (undefined over plain streams or a network). */
  get hostPid(): number | undefined {
    return this.#link.child?.pid;
  }

  /** The host this session lives on: its `ws(s)://` URL, or `process <pid>` for a spawned one. */
  get host(): string {
    return this.#link.name;
  }

  async execute(request: ExecuteRequest, initialObserve?: ObserveMode): Promise<StartedCell> {
    this.#assertUsable();
    const result = await this.#link.request(Methods.cellExecute, {
      sessionId: this.sessionId,
      request,
      observe: initialObserve,
    });
    const { cellId } = result as Partial<typeof result>;
    if (typeof cellId !== 'string' || cellId === '')
      throw new CodeCellError(
        'ERR_PROTOCOL',
        `codecell-host answered cell/execute without a cellId: ${JSON.stringify(result)}`,
      );
    // The host took the request: its limits were valid (a cell's own bound on its tool results).
    const own = request.limits?.maxToolResultBytes;
    if (typeof own === 'number') this.#cellMaxResultBytes.set(cellId, own);
    return this.startedCell(cellId, this.#admitted(cellId));
  }

  async beginObserve(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<PendingEvent> {
    this.#assertCellUsable(cellId);
    signal?.throwIfAborted();
    // Every observer of this session's cells goes through this client, so busy is known here.
    if (this.#observing.has(cellId)) throw busyObserverError(cellId);
    this.#observing.add(cellId);
    const answered = this.#link.request(Methods.cellObserve, { sessionId: this.sessionId, cellId, mode }, signal).then(
      (value) => this.#cells.delivered(cellId, value),
      (error: unknown) => {
        this.#cells.forgetIfMissing(cellId, error);
        throw error;
      },
    );
    // As in-process: an aborted observation frees the slot at once, with the caller's reason.
    const event = untilAborted(answered, signal).finally(() => this.#observing.delete(cellId));
    return { event: quiet(event) };
  }

  async terminate(cellId: CellId): Promise<CellEvent> {
    this.#assertCellUsable(cellId);
    let event: CellEvent;
    try {
      event = this.#cells.delivered(
        cellId,
        await this.#link.request(Methods.cellTerminate, { sessionId: this.sessionId, cellId }),
      );
    } catch (error) {
      this.#cells.forgetIfMissing(cellId, error);
      throw error;
    }
    // The host cancelled the cell's calls (cell/cancel came before this answer): as in-process,
    // the caller's own delegates are waited for, within the deadline.
    await this.#cells.windingDown(cellId);
    return event;
  }

  async suspend(options: SuspendOptions = {}): Promise<SessionSnapshot> {
    const signal = checkSuspendOptions(options);
    this.#assertUsable();
    this.#suspending = true;
    // The host waits for the cells; a signal ends them with a terminate each.
    const stop = (): void => {
      for (const cellId of this.#cells.open) this.terminate(cellId).catch(() => {});
    };
    if (signal?.aborted === true) stop();
    else signal?.addEventListener('abort', stop, { once: true });
    let snapshot: SessionSnapshot;
    try {
      ({ snapshot } = await this.#link.request(Methods.sessionSuspend, { sessionId: this.sessionId }));
    } finally {
      signal?.removeEventListener('abort', stop);
    }
    await this.shutdown();
    return snapshot;
  }

  protected async shutdownOnce(): Promise<void> {
    let aborted: Promise<void> = Promise.resolve();
    try {
      if (this.#hostDead === undefined) {
        const answered = this.#link.request(Methods.sessionShutdown, { sessionId: this.sessionId });
        aborted = settledWithin(this.#link.abortSessionCalls(this.sessionId), this.#deadlineMs);
        await answered;
      }
    } catch (error) {
      if (!(error instanceof CodeCellError && error.code === 'ERR_HOST_EXITED')) throw error;
    } finally {
      this.#endAll(new CodeCellError('ERR_SHUTTING_DOWN', 'the session was shut down'));
      this.#link.forget(this.sessionId);
    }
    // Like the in-process session: the delegate calls it aborted settle (or their deadline passes),
    // and cellClosed calls already running are waited for, within the deadline of the callbacks.
    await Promise.all([aborted, this.#cells.windingDown()]);
    if (this.#cellsClosing.size > 0) {
      const deadline = new Deadline(this.#deadlineMs);
      await Promise.race([Promise.all(this.#cellsClosing), deadline.reached]);
      deadline.clear();
    }
  }

  /** The cell's stream events (SPEC §7): the host holds them until the first subscription. */
  protected cellEvents(cellId: CellId, options: EventsOptions): HandOffStream<CellStreamEvent> {
    if (this.#hostDead !== undefined) throw this.#hostDead;
    if (!this.#cells.isKnown(cellId)) throw new CodeCellError('ERR_MISSING_CELL', `unknown cell ${cellId}`);
    if (this.#cells.firstSubscription(cellId)) {
      // The host sends the held events (or its replay, `from: 'start'`); they fill the local log.
      // A subscription made as the client learned the cell asks for the replay: the cell ran on
      // the host meanwhile, and its record from admission (1 024 events / 1 MiB) loses nothing
      // that the hold (128) would drop (SPEC §8: a subscriber sees every event from the first).
      this.#streams.admit(cellId);
      const from = options.from ?? (this.#cells.isFresh(cellId) ? 'start' : 'now');
      this.#link.request(Methods.cellSubscribe, { sessionId: this.sessionId, cellId, from }).catch((error: unknown) => {
        // The host no longer has the cell's events (or is gone): the stream ends, or fails.
        this.#streams.end(cellId, this.#hostDead);
        if (this.#hostDead === undefined)
          this.#link.logger.warn(`codecell: subscribing to cell ${cellId} failed: ${messageOf(error)}`);
      });
    }
    return this.#streams.subscribe(cellId, options);
  }

  /** Every cell's events from now on: the host sends them as one stream (session/event). */
  protected sessionEvents(): HandOffStream<SessionStreamEvent> {
    if (this.#hostDead !== undefined) throw this.#hostDead;
    this.assertNotShuttingDown();
    const stream = this.#streams.subscribeSession();
    if (!this.#sessionSubscribed) {
      this.#sessionSubscribed = true;
      this.#link.request(Methods.sessionSubscribe, { sessionId: this.sessionId }).catch((error: unknown) => {
        if (this.#hostDead === undefined)
          this.#link.logger.warn(`codecell: following session ${this.sessionId} failed: ${messageOf(error)}`);
      });
    }
    return stream;
  }

  // --- used by openRemoteSession and HostLink ---

  /** Waits for the setup cell's first event, bounded by `signal` and `timeoutMs`. */
  async setup(signal: AbortSignal | undefined, timeoutMs = DEFAULT_SETUP_TIMEOUT_MS): Promise<void> {
    const first = this.#setupInitial ?? Promise.resolve(undefined);
    const timer = AbortSignal.timeout(timeoutMs);
    try {
      this.setupEvent = await untilAborted(first, signal === undefined ? timer : AbortSignal.any([timer, signal]));
    } catch (error) {
      await this.shutdown().catch(() => {});
      if (timer.aborted && signal?.aborted !== true) throw setupTimedOut(timeoutMs);
      throw error;
    }
  }

  receive(entry: Inbound): void {
    if (entry.type === 'request') {
      const { cellId } = entry.message.call.value as { cellId: CellId };
      serveDelegateCall(this.#delegate, entry.message, this.#resultBound(cellId));
      return;
    }
    const message = entry.message;
    if (message.type === 'event') {
      this.#streams.emit(message.params.cellId, message.params.event);
    } else if (message.type === 'sessionEvent') {
      this.#streams.emitSession(message.params.event);
    } else if (message.type === 'initialEvent') {
      this.#initial.arrived(message.params.cellId, message.params.event);
    } else {
      this.#cellMaxResultBytes.delete(message.params.cellId);
      const closing = Promise.resolve()
        .then(() => this.#delegate.cellClosed?.(message.params.cellId))
        .catch((error: unknown) =>
          this.#link.logger.warn(`codecell: cellClosed(${message.params.cellId}) threw: ${messageOf(error)}`),
        )
        .finally(() => this.#cellsClosing.delete(closing));
      this.#cellsClosing.add(closing);
    }
  }

  /** The host cancelled these delegate calls of the cell (cell/cancel): terminate waits for them. */
  callsCancelled(cellId: CellId, running: Promise<unknown>[]): void {
    this.#cells.callsCancelled(cellId, running, this.#deadlineMs);
  }

  hostDied(error: CodeCellError): void {
    this.#hostDead = error;
    this.#endAll(error);
  }

  /**
   * A cell the host admitted: its initial observation holds the observer slot until it arrives.
   * (Its events wait on the host, in the runtime's PendingRouter, until events(cellId) subscribes.)
   */
  #admitted(cellId: CellId): Promise<CellEvent> {
    this.#cells.admitted(cellId);
    const event = this.#initial.expect(cellId);
    this.#observing.add(cellId);
    // The setup cell's initial event is never handed out: nobody may be listening when the host dies.
    return quiet(
      event.then(
        (value) => {
          this.#observing.delete(cellId);
          return this.#cells.delivered(cellId, value);
        },
        (error: unknown) => {
          this.#observing.delete(cellId);
          throw error;
        },
      ),
    );
  }

  /**
   * The largest result a tool call of the cell may answer with: its maxToolResultBytes (the
   * cell's own, else the session's; unknown for a cell whose admission has not reached this
   * client yet — the host checks it too), and the host's message bound less room for the envelope.
   */
  #resultBound(cellId: CellId): ResultBound | undefined {
    const limit = this.#cells.isKnown(cellId)
      ? (this.#cellMaxResultBytes.get(cellId) ?? this.#maxResultBytes)
      : undefined;
    // Made once per distinct limit (a session has one or a few), not once per tool call.
    if (this.#bounds.has(limit)) return this.#bounds.get(limit);
    const bound = this.#boundOf(limit);
    if (this.#bounds.size < 16) this.#bounds.set(limit, bound);
    return bound;
  }

  #boundOf(limit: number | undefined): ResultBound | undefined {
    const message = this.#link.maxMessageBytes === undefined ? undefined : this.#link.maxMessageBytes - 1024;
    if (message !== undefined && (limit === undefined || message < limit))
      return { bytes: message, what: `the largest message ${this.#link.name} reads (${message} bytes)` };
    return limit === undefined ? undefined : { bytes: limit, what: `the maxToolResultBytes limit of ${limit}` };
  }

  #endAll(error: CodeCellError): void {
    // A stream whose host died fails with ERR_HOST_EXITED; a shut-down session's streams end.
    this.#streams.endAll(error.code === 'ERR_HOST_EXITED' ? error : undefined);
    this.#initial.failAll(error);
  }

  #assertUsable(): void {
    if (this.#hostDead !== undefined)
      throw new CodeCellError('ERR_HOST_EXITED', 'codecell-host of this session has exited');
    this.assertNotShuttingDown();
    if (this.#suspending) throw new CodeCellError('ERR_SHUTTING_DOWN', 'the session is being suspended');
  }

  #assertCellUsable(cellId: unknown): asserts cellId is CellId {
    const id = this.checkCellId(cellId);
    if (this.#hostDead !== undefined)
      throw new CodeCellError('ERR_MISSING_CELL', `unknown cell ${id} (its host has exited)`);
    if (!this.#cells.isOpen(id)) throw new CodeCellError('ERR_MISSING_CELL', `unknown cell ${id}`);
  }
}
