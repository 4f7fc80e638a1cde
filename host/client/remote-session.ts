// RemoteSession: a session of codecell-host behind the same CodeCellSession interface as the
// in-process SessionRuntime (protocol v2: execute answers at admission, events by subscription).
import {
  CodeCellError,
  DEFAULT_CALLBACK_ABORT_DEADLINE_MS,
  type CellAnswer,
  type CellEvent,
  type CellId,
  type CellStreamEvent,
  type CodeCellSession,
  type EventsOptions,
  type ExecuteRequest,
  type HandOffStream,
  type NestedToolCall,
  type ObserveMode,
  type PendingEvent,
  type SessionRuntimeDelegate,
  type SessionSnapshot,
  type SessionStreamEvent,
  type StartedCell,
  type SuspendOptions,
} from '../../src/index.js';
import {
  CellStreams,
  checkCellAnswer,
  checkSuspendOptions,
  Deadline,
  DEFAULT_OBSERVE,
  messageOf,
  missingCell,
  notInterrupted,
  quiet,
  SessionBase,
  traceMeta,
  type TraceMeta,
} from '../../src/internal.js';
import { untilAborted } from '../wire/signals.js';
import { Methods, type HostTiming, type SessionId, type WireCellEvent } from '../wire/protocol.js';
import { settledWithin } from './incoming-calls.js';
import { serveDelegateCall } from './serve-call.js';
import { ResultBounds } from './result-bounds.js';
import { InitialEvents } from './initial-events.js';
import { Observations } from './observations.js';
import { RemoteCells } from './remote-cells.js';
import { ledgerFigures, SessionLedger } from './session-ledger.js';
import { HostBrokeBound } from './cell-ledger.js';
import { CellReplays, type ReplayingSession } from './cell-replays.js';
import type { CreatedSession, CreateParams } from './session-create.js';
import { SessionMove, type MovingSession, type Rehome } from './session-move.js';
import type { HostLink, Inbound, LinkedSession } from './link.js';

export type { Rehome } from './session-move.js';

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
  /**
   * The host's own timing of the cell (SPEC §14) as of its newest answer about it here: how long
   * it waited to be admitted there, and how long it had run (its whole run once it ended).
   * Undefined for a cell this client has no answer about (it keeps the newest 1 024 cells').
   */
  hostTiming(cellId: CellId): HostTiming | undefined;
}

/**
 * The RemoteSession of a HostLink: it receives what the link routes to it. With a `rehome`, it
 * keeps a record to rebuild itself on another host, and moves there when its host is lost or
 * drains (SPEC §13): its link and id on the host change, the session goes on.
 */
export class HostSession extends SessionBase implements RemoteSession, LinkedSession, MovingSession, ReplayingSession {
  #sessionId: SessionId;
  /** The setup cell's id, when the session was created with `setupSource`. */
  readonly setupCellId: CellId | undefined;
  /** The setup cell's first event (frontier or terminal), once createSession resolved. */
  setupEvent: CellEvent | undefined;
  #link: HostLink;
  readonly #delegate: SessionRuntimeDelegate;
  #deadlineMs: number;
  /** What the client keeps to rebuild the session and its cells elsewhere (with a rehome). */
  readonly #ledger: SessionLedger | undefined;
  /** How the session moves to another host (with a rehome). */
  readonly #move: SessionMove | undefined;
  /** The cells lost with their host: those that run again elsewhere, and those that end (with a rehome). */
  readonly #replays: CellReplays | undefined;
  /** cell/execute requests in flight (a hand-off waits for them). */
  #executing = 0;
  readonly #streams: CellStreams;
  readonly #observing = new Observations();
  readonly #initial = new InitialEvents();
  /** The setup cell's initial event (see setup). */
  readonly #setupInitial: Promise<CellEvent> | undefined;
  readonly #cells = new RemoteCells();
  #sessionSubscribed = false;
  #hostDead: CodeCellError | undefined;
  /** The delegate's cellClosed calls still running. */
  readonly #cellsClosing = new Set<Promise<void>>();
  /** The largest tool result each cell may answer with (checked here before it is sent). */
  readonly #bounds: ResultBounds;
  #suspending = false;
  /**
   * How many messages named a cell this client did not know yet (the cell of an execute in
   * flight, whose answer has not come), or committed stored values: signs that a host ran it.
   */
  #heardOfCells = 0;

  constructor(
    link: HostLink,
    created: CreatedSession,
    delegate: SessionRuntimeDelegate,
    params: CreateParams,
    rehome?: Rehome,
  ) {
    super();
    this.#link = link;
    this.#sessionId = created.sessionId;
    this.#delegate = delegate;
    this.setupCellId = created.setupCellId;
    this.#deadlineMs = created.deadlineMs ?? DEFAULT_CALLBACK_ABORT_DEADLINE_MS;
    this.#bounds = new ResultBounds(link, created.maxResultBytes);
    // A resumed session's paused cells are its cells too (resumeCell addresses them).
    for (const { event } of params.restore?.pausedCells ?? []) {
      this.#cells.admitted(event.cellId);
      this.#cells.delivered(event.cellId, event);
    }
    if (rehome !== undefined) {
      // Sent again on another host without setup: its effects are in the stored values.
      const { setupSource: _, restore, ...own } = params;
      this.#ledger = new SessionLedger(ledgerFigures(params.limits), restore);
      if (created.setupCellId !== undefined) this.#ledger.admitted(created.setupCellId);
      this.#move = new SessionMove(this, rehome, this.#ledger, own);
      this.#replays = new CellReplays(this.#ledger, this);
    }
    this.#streams = new CellStreams({ logger: link.logger, retainClosed: 64, sessionFromCells: false });
    this.#setupInitial =
      created.setupCellId === undefined
        ? undefined
        : this.#admitted(created.setupCellId, { kind: 'pendingFrontier' }, performance.now());
  }

  /** The session's id on its host (it changes when the session moves to another host). */
  get sessionId(): SessionId {
    return this.#sessionId;
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

  /** The link to the host this session lives on (it changes when the session moves). */
  get link(): HostLink {
    return this.#link;
  }

  async execute(request: ExecuteRequest, initialObserve?: ObserveMode): Promise<StartedCell> {
    if (this.#move?.pending === true) await this.#move.afterMove();
    this.#assertUsable();
    const link = this.#link;
    let result;
    // The initial observation's time counts from here (the host's, from admission).
    const sentAt = performance.now();
    // Whether the host is heard of a cell this client does not know, from here on (see below).
    const heard = this.#heardOfCells;
    this.#executing++;
    const executed = this.#ledger?.executing(request.limits);
    try {
      // The caller's span is the cell's parent on the host (SPEC §14).
      const params = { sessionId: this.sessionId, request, observe: initialObserve, ...tracedParams() };
      result = await link.request(Methods.cellExecute, params);
    } catch (error) {
      executed?.();
      if (this.#move?.moving === true) await this.#move.moved();
      if (link === this.#link || !this.isAlive) throw error;
      // The host was lost before it answered, and the session lives on another now. Nothing of
      // a cell this client does not know reached it since: the lost host never ran this one
      // with an effect (every effect of a cell crosses to this client) — it runs here instead.
      if (heard === this.#heardOfCells) return this.execute(request, initialObserve);
      throw lostExecute(link, error);
    } finally {
      this.#executing--;
    }
    const { cellId, _meta } = result as Partial<typeof result>;
    if (typeof cellId !== 'string' || cellId === '') {
      executed?.();
      throw new CodeCellError(
        'ERR_PROTOCOL',
        `codecell-host answered cell/execute without a cellId: ${JSON.stringify(result)}`,
      );
    }
    // The host took the request: its limits were valid (a cell's own bound on its tool results).
    const own = request.limits?.maxToolResultBytes;
    if (typeof own === 'number') this.#bounds.cell(cellId, own);
    this.#ledger?.admitted(cellId, request.limits);
    executed?.();
    const started = this.startedCell(cellId, this.#admitted(cellId, initialObserve ?? DEFAULT_OBSERVE, sentAt));
    this.#cells.timed(cellId, _meta);
    // Its host was lost just as its answer came: the cell is lost with it, as its neighbours were.
    if (!link.alive) this.#lostOnArrival(cellId, link);
    return started;
  }

  /** A cell whose admission was heard after its host was lost: it runs on where they went, or ends. */
  #lostOnArrival(cellId: CellId, link: HostLink): void {
    if (this.#hostDead !== undefined || this.#replays === undefined) {
      const error = this.#hostDead ?? link.death ?? new CodeCellError('ERR_HOST_EXITED', 'codecell-host is gone');
      return this.#initial.failIfAwaited(cellId, error);
    }
    this.#replays.hostLost([cellId], link.brokenWhy);
    // A move under way runs it there with the others; one that ended already, here and now.
    if (this.#move?.moving !== true) void this.#replays.replayAll(link);
  }

  hostTiming(cellId: CellId): HostTiming | undefined {
    return this.#cells.timing(cellId);
  }

  async beginObserve(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<PendingEvent> {
    const held = this.#cells.takeHeld(cellId);
    if (held !== undefined) return { event: Promise.resolve(held) };
    this.#assertCellUsable(cellId);
    signal?.throwIfAborted();
    this.#observing.take(cellId, mode);
    const answered = this.#observeOnHost(cellId, mode, signal);
    // As in-process: an aborted observation frees the slot at once, with the caller's reason.
    const event = untilAborted(answered, signal).finally(() => this.#observed(cellId));
    return { event: quiet(event) };
  }

  async terminate(cellId: CellId): Promise<CellEvent> {
    const held = this.#cells.takeHeld(cellId);
    if (held !== undefined) return held;
    this.#assertCellUsable(cellId);
    let event: CellEvent;
    try {
      event = this.#delivered(
        cellId,
        await this.#link.request(Methods.cellTerminate, { sessionId: this.sessionId, cellId }),
      );
    } catch (error) {
      const lost = this.#cells.takeHeld(cellId);
      if (lost !== undefined) return lost;
      this.#cells.forgetIfMissing(cellId, error);
      throw error;
    }
    // The host cancelled the cell's calls (cell/cancel came before this answer): as in-process,
    // the caller's own delegates are waited for, within the deadline.
    await this.#cells.windingDown(cellId);
    return event;
  }

  async resumeCell(cellId: CellId, answer: CellAnswer, observe: ObserveMode = DEFAULT_OBSERVE): Promise<CellEvent> {
    this.#assertCellUsable(cellId);
    const checked = checkCellAnswer(answer);
    // As in-process: a cell that is not paused is refused before its observer is looked at.
    if (!this.#cells.isPaused(cellId)) throw notInterrupted(cellId);
    this.#observing.take(cellId, observe);
    try {
      const params = { sessionId: this.sessionId, cellId, answer: checked, observe, ...tracedParams() };
      return this.#delivered(cellId, await this.#link.request(Methods.cellResume, params));
    } catch (error) {
      const lost = this.#cells.takeHeld(cellId);
      if (lost !== undefined) return lost;
      this.#cells.forgetIfMissing(cellId, error);
      throw error;
    } finally {
      this.#observed(cellId);
    }
  }

  async suspend(options: SuspendOptions = {}): Promise<SessionSnapshot> {
    const signal = checkSuspendOptions(options);
    if (this.#move?.moving === true) await this.#move.moved();
    this.#assertUsable();
    this.#suspending = true;
    // The host waits for the cells; a signal ends them with a terminate each.
    const stop = (): void => {
      for (const cellId of this.#cells.running) this.terminate(cellId).catch(() => {});
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
    if (this.#move?.moving === true) await this.#move.moved();
    try {
      if (this.#hostDead === undefined) {
        // It leaves before the delegates' aborts below (a turn's work), so the host starts at once.
        const answered = this.#link.request(Methods.sessionShutdown, { sessionId: this.sessionId }, undefined, true);
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
        // The host no longer has the cell's events (or is gone): the stream ends, or fails —
        // unless the cell runs again on another host, which it subscribes to then.
        if (this.#replays?.has(cellId) === true) return;
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
    if (this.#executing > 0 && this.#namesNewCell(entry)) this.#heardOfCells++;
    try {
      this.#receive(entry);
    } catch (error) {
      // A host that broke a bound of this client's is treated as lost: the session moves.
      if (!(error instanceof HostBrokeBound)) throw error;
      this.#link.broken(error.message);
    }
  }

  #receive(entry: Inbound): void {
    const ledger = this.#ledger;
    if (entry.type === 'request') {
      const call = entry.message.call.value as NestedToolCall;
      const bound = this.#bounds.of(call.cellId, this.#cells.isKnown(call.cellId));
      if (entry.message.name !== 'invokeTool') {
        ledger?.notified(call.cellId);
        return serveDelegateCall(this.#delegate, entry.message, bound);
      }
      // Recorded before the delegate runs; what it did and what the cell gets, as it happens.
      ledger?.served(call);
      const { cellId, callId } = call;
      const served = ledger && {
        settled: (outcome: 'returned' | 'threw') => ledger.settled(cellId, callId, outcome),
        answered: (answer: CellAnswer, bytes: number) => ledger.answered(cellId, callId, answer, bytes),
      };
      return serveDelegateCall(this.#delegate, entry.message, bound, served);
    }
    const message = entry.message;
    if (message.type === 'journal') {
      ledger?.journaled(message.params.cellId, message.params.start, message.params.update);
    } else if (message.type === 'catastrophe') {
      // Its host goes now, because of this cell: it is never run again elsewhere (SPEC §13).
      this.#replays?.culprit(message.params.cellId);
    } else if (message.type === 'stored') {
      ledger?.committed(message.params.values);
    } else if (message.type === 'event') {
      this.#streams.emit(message.params.cellId, message.params.event);
    } else if (message.type === 'sessionEvent') {
      this.#streams.emitSession(message.params.event);
    } else if (message.type === 'initialEvent') {
      this.#initial.arrived(message.params.cellId, message.params.event);
    } else {
      this.#closed(message.params.cellId);
      ledger?.closedOnHost(message.params.cellId);
      // A cell whose end this client has not read yet keeps its ledger: if the host is lost
      // first, it runs again elsewhere to that end (its calls all answered from its journal).
      const { cellId } = message.params;
      if (this.#cells.isKnown(cellId) && !this.#cells.isOpen(cellId)) ledger?.drop(cellId);
      this.#move?.settled();
    }
  }

  /** Whether the message names a cell this client does not know, or commits stored values. */
  #namesNewCell(entry: Inbound): boolean {
    if (entry.type === 'request') return !this.#cells.isKnown((entry.message.call.value as NestedToolCall).cellId);
    const { message } = entry;
    return (
      message.type === 'stored' || (message.type !== 'sessionEvent' && !this.#cells.isKnown(message.params.cellId))
    );
  }

  /**
   * Whether the session is busy on its host: a cell runs or is being admitted there, or an
   * observation (an initial one included) waits for its answer from there.
   */
  busy(): boolean {
    return this.#executing > 0 || (this.#ledger?.running ?? 0) > 0 || this.#observing.size > 0;
  }

  /** An observation of the cell ended: a hand-off waiting for it may go on. */
  #observed(cellId: CellId): void {
    this.#observing.release(cellId);
    this.#move?.settled();
  }

  /** The cell closed (on its host, or lost with it): the delegate hears cellClosed. */
  #closed(cellId: CellId): void {
    this.#bounds.closed(cellId);
    const closing = Promise.resolve()
      .then(() => this.#delegate.cellClosed?.(cellId))
      .catch((error: unknown) => this.#link.logger.warn(`codecell: cellClosed(${cellId}) threw: ${messageOf(error)}`))
      .finally(() => this.#cellsClosing.delete(closing));
    this.#cellsClosing.add(closing);
  }

  /** The host cancelled these delegate calls of the cell (cell/cancel): terminate waits for them. */
  callsCancelled(cellId: CellId, running: Promise<unknown>[]): void {
    this.#cells.callsCancelled(cellId, running, this.#deadlineMs);
  }

  hostDied(error: CodeCellError): void {
    // Its cells are lost with the host; the session itself moves (SPEC §13) if it can.
    if (this.#move?.hostLost(error) !== true) this.fail(error);
  }

  /** The host drains: the session moves once nothing of it runs there. */
  handOff(): void {
    this.#move?.handOff();
  }

  // --- used by SessionMove ---

  get staying(): boolean {
    return this.#hostDead !== undefined || this.shuttingDown || this.#suspending;
  }

  loseOpenCells(): void {
    // Each runs again on the next host from its ledger, or ends here (SPEC §13).
    this.#replays?.hostLost(this.#cells.open, this.#link.brokenWhy);
  }

  async replayKept(from: HostLink): Promise<void> {
    await this.#replays?.replayAll(from);
  }

  async takeUnread(from: HostLink): Promise<void> {
    await Promise.all(
      this.#cells.open
        .filter((cellId) => !this.#observing.has(cellId))
        .map(async (cellId) => {
          const mode = { kind: 'pendingFrontier' } as const;
          const event = await from.request(Methods.cellObserve, { sessionId: this.sessionId, cellId, mode });
          this.#delivered(cellId, event);
          this.#cells.hold(cellId, event);
        })
        .map((taking) => taking.catch(() => {})),
    );
  }

  attach(link: HostLink, created: CreatedSession): this {
    this.#ledger?.attached();
    this.#initial.forgetEarly();
    this.#link = link;
    this.#sessionId = created.sessionId;
    if (created.deadlineMs !== undefined) this.#deadlineMs = created.deadlineMs;
    this.#bounds.moved(link, created.maxResultBytes);
    return this;
  }

  rehomed(from: HostLink, reason: 'hostLost' | 'drain'): void {
    this.#streams.emitSession({ type: 'rehomed', from: from.name, to: this.#link.name, reason });
    if (this.#sessionSubscribed)
      this.#link.request(Methods.sessionSubscribe, { sessionId: this.sessionId }).catch(() => {});
  }

  fail(error: CodeCellError): void {
    this.#hostDead = error;
    // Cells that were to run again on another host are lost: no host took the session.
    this.#replays?.loseAll();
    this.#endAll(error);
  }

  runsAgain(cellId: CellId, replayed: CellStreamEvent): void {
    this.#streams.emit(cellId, replayed);
    this.#streams.emitSession({ cellId, ...replayed });
    const { link, sessionId } = this;
    if (this.#cells.isSubscribed(cellId))
      link.request(Methods.cellSubscribe, { sessionId, cellId, from: 'now' }).catch(() => {});
    // An initial observation that never came is asked of the new host, for what is left of its time.
    const left = this.#observing.left(cellId);
    if (this.#initial.awaited(cellId) && left !== undefined)
      link.request(Methods.cellObserve, { sessionId, cellId, mode: left }).then(
        (answer) => this.#initial.arrived(cellId, answer),
        (error: unknown) => this.#initial.settleIfAwaited(cellId, this.#lostEvent(cellId, error)),
      );
  }

  /**
   * An observation of the cell on its host. If the host is lost meanwhile: the observation again
   * where the cell runs on, or the cell's end.
   */
  async #observeOnHost(cellId: CellId, mode: ObserveMode, signal: AbortSignal | undefined): Promise<CellEvent> {
    try {
      const answer = await this.#link.request(Methods.cellObserve, { sessionId: this.sessionId, cellId, mode }, signal);
      return this.#delivered(cellId, answer);
    } catch (error) {
      // The cell runs on another host now: asked again there, for what is left of its time.
      const ran = this.#replays?.ran(cellId);
      if (ran !== undefined && (await ran))
        return this.#observeOnHost(cellId, this.#observing.left(cellId) ?? mode, signal);
      // The cell was lost with its host while this waited: its end is held here.
      const lost = this.#cells.takeHeld(cellId);
      if (lost !== undefined) return lost;
      this.#cells.forgetIfMissing(cellId, error);
      throw error;
    }
  }

  /** An answer about the cell reached this client (its output items count as seen: SPEC §13). */
  #delivered(cellId: CellId, answer: WireCellEvent): CellEvent {
    const event = this.#cells.delivered(cellId, answer);
    this.#ledger?.observed(cellId, event);
    if (event.kind === 'completed' || event.kind === 'terminated') this.#ledger?.drop(cellId);
    return event;
  }

  /** A cell whose replay could not be observed: it ends lost with its host. */
  #lostEvent(cellId: CellId, error: unknown): CellEvent {
    this.#link.logger.warn(`codecell: observing the replayed cell ${cellId} failed: ${messageOf(error)}`);
    const detail = `observing it where it ran again failed: ${messageOf(error)}`;
    return { kind: 'terminated', cellId, items: [], reason: 'hostLost', toolCalls: [], detail };
  }

  /** The cell ended here, lost with its host (CellReplays): its end is held and handed out once. */
  ended(cellId: CellId, event: CellEvent): void {
    this.#cells.delivered(cellId, event);
    this.#cells.hold(cellId, event);
    this.#initial.settleIfAwaited(cellId, event);
    if (this.#cells.firstSubscription(cellId)) this.#streams.admit(cellId);
    this.#streams.emit(cellId, { type: 'closed', event });
    this.#streams.emitSession({ cellId, type: 'closed', event });
    this.#closed(cellId);
  }

  /**
   * A cell the host admitted: its initial observation holds the observer slot until it arrives.
   * (Its events wait on the host, in the runtime's PendingRouter, until events(cellId) subscribes.)
   */
  #admitted(cellId: CellId, mode: ObserveMode, sentAt: number): Promise<CellEvent> {
    this.#cells.admitted(cellId);
    const event = this.#initial.expect(cellId);
    this.#observing.take(cellId, mode, sentAt);
    // The setup cell's initial event is never handed out: nobody may be listening when the host dies.
    return quiet(
      event.then(
        (value) => {
          this.#observed(cellId);
          // A cell lost with its host: its end is handed out here, not again.
          this.#cells.takeHeld(cellId);
          return this.#delivered(cellId, value);
        },
        (error: unknown) => {
          this.#observed(cellId);
          throw error;
        },
      ),
    );
  }

  #endAll(error: CodeCellError): void {
    this.#move?.wake();
    // A stream whose host died fails with ERR_HOST_EXITED; a shut-down session's streams end.
    this.#streams.endAll(error.code === 'ERR_HOST_EXITED' ? error : undefined);
    this.#initial.failAll(error);
  }

  #assertUsable(): void {
    if (this.#hostDead !== undefined)
      throw new CodeCellError('ERR_HOST_EXITED', `codecell-host of this session has exited: ${this.#hostDead.message}`);
    this.assertNotShuttingDown();
    if (this.#suspending) throw new CodeCellError('ERR_SHUTTING_DOWN', 'the session is being suspended');
  }

  #assertCellUsable(cellId: unknown): asserts cellId is CellId {
    const id = this.checkCellId(cellId);
    if (this.#hostDead !== undefined)
      throw new CodeCellError('ERR_MISSING_CELL', `unknown cell ${id} (its host has exited)`);
    if (!this.#cells.isOpen(id)) throw missingCell(id, this.#cells.isKnown(id));
  }
}

/** `_meta` with the caller's trace context, when a span is active. */
function tracedParams(): { _meta?: TraceMeta } {
  const meta = traceMeta();
  return meta === undefined ? {} : { _meta: meta };
}

/** An execute whose host was lost before it answered, having started the cell: the session goes on elsewhere. */
function lostExecute(link: HostLink, error: unknown): CodeCellError {
  return new CodeCellError(
    'ERR_HOST_EXITED',
    `the session's host (${link.name}) was lost before it answered cell/execute, and the cell had started ` +
      `there (its effects may have happened); the session goes on on another host: decide whether to run ` +
      `the cell again (${messageOf(error)})`,
  );
}
