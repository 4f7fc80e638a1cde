// A remote session's core: where it lives (its host's link, its id there), its parts — its cells
// as this client knows them, what it asks of them (cell-observers.ts), its streams
// (remote-streams.ts), its ledger (src/ledger/session-ledger.ts) — and its life on its hosts: what a host
// sends it (session-inbox.ts), the loss of a host with its cells (cell-replays.ts), a move to
// another (session-move.ts). HostSession (remote-session.ts) is the public session over it.
import {
  CodeCellError,
  DEFAULT_CALLBACK_ABORT_DEADLINE_MS,
  type CellEvent,
  type CallOutcome,
  type CellId,
  type CellStreamEvent,
  type ObserveMode,
  type SessionRuntimeDelegate,
} from '../../src/index.js';
import { AnswerGate, Deadline, messageOf, toJsonText } from '../../src/internal.js';
import { Methods, type SessionId, type WireCellEvent } from '../wire/protocol.js';
import { CellObservers, type ObservedSession } from './cell-observers.js';
import { CellReplays, type ReplayingSession } from './cell-replays.js';
import type { HostLink, Inbound, LinkedSession } from './link.js';
import { RemoteCells } from './remote-cells.js';
import { RemoteStreams, type StreamedSession } from './remote-streams.js';
import { ResultBounds } from './result-bounds.js';
import type { CreatedSession, CreateParams } from './session-create.js';
import { SessionInbox } from './session-inbox.js';
import { ledgerFigures, SessionLedger } from '../../src/internal.js';
import { SessionMove, type MovingSession, type Rehome } from './session-move.js';
import { cursorOf, type KeptLog } from './kept-sessions.js';

export class SessionCore implements LinkedSession, MovingSession {
  /** The host the session lives on, and its id there (both change when it moves). */
  link: HostLink;
  sessionId: SessionId;
  /** Why the session ended with its host (no other took it), once it did. */
  hostDead: CodeCellError | undefined;
  /** The session's callback abort deadline, as its host said. */
  deadlineMs: number;
  /** The session is being suspended (it does not move meanwhile). */
  suspending = false;
  /** cell/execute requests in flight (a hand-off waits for them). */
  executing = 0;
  readonly delegate: SessionRuntimeDelegate;
  /** The session's key (its calls' idempotency keys begin with it): sent with every session/create. */
  readonly key: string;
  readonly cells = new RemoteCells();
  /** The largest tool result each cell may answer with (checked here before it is sent). */
  readonly bounds: ResultBounds;
  /** With a rehome: what the client keeps to rebuild the session and its cells, how it moves, its lost cells. */
  readonly ledger: SessionLedger | undefined;
  readonly move: SessionMove | undefined;
  readonly replays: CellReplays | undefined;
  readonly observers: CellObservers;
  readonly streams: RemoteStreams;
  readonly #inbox: SessionInbox;
  /** The delegate's cellClosed calls still running. */
  readonly #cellsClosing = new Set<Promise<void>>();
  /** Whether the public session is shutting down. */
  readonly #shuttingDown: () => boolean;

  /** With a store: the session's place there (SPEC §16), and why it can keep it no more. */
  readonly kept: KeptLog | undefined;
  movedAway: CodeCellError | undefined;
  /** What every answer about the session passes before it leaves (SPEC §16's one gate). */
  readonly gate: AnswerGate;

  constructor(
    link: HostLink,
    created: CreatedSession,
    delegate: SessionRuntimeDelegate,
    params: CreateParams,
    rehome: Rehome | undefined,
    shuttingDown: () => boolean,
    kept?: KeptLog,
  ) {
    this.link = link;
    this.sessionId = created.sessionId;
    this.delegate = delegate;
    this.key = params.key;
    this.#shuttingDown = shuttingDown;
    this.deadlineMs = created.deadlineMs ?? DEFAULT_CALLBACK_ABORT_DEADLINE_MS;
    this.bounds = new ResultBounds(link, created.maxResultBytes);
    this.gate = new AnswerGate(kept?.log, () => this.movedAway ?? this.hostDead);
    // A resumed session's paused cells are its cells too (resumeCell addresses them).
    for (const { event } of params.restore?.pausedCells ?? []) {
      this.cells.admitted(event.cellId);
      this.cells.delivered(event.cellId, event);
    }
    const view = this.#view();
    if (rehome !== undefined) {
      // Sent again on another host without setup: its effects are in the stored values.
      const { setupSource: _, restore, mirror: _m, moved: _v, ...own } = params;
      this.ledger = kept?.read?.ledger ?? new SessionLedger(ledgerFigures(params.limits), restore, params.tools);
      this.kept = kept;
      if (kept !== undefined) {
        // Its options first (what a recovery creates it with again), then all its ledger learns.
        const { epoch: _e, ...options } = own;
        kept.log.write(JSON.stringify({ t: 'session', options })).catch(() => {});
        this.ledger.logTo(kept.log);
        kept.attach({ ledger: this.ledger, lost: (error) => this.#storeLost(error) });
      }
      this.ledger.attached(created.limits);
      if (created.setupCellId !== undefined) this.ledger.admitted(created.setupCellId);
      this.move = new SessionMove(this, rehome, this.ledger, own);
      this.replays = new CellReplays(this.ledger, view);
    }
    this.observers = new CellObservers(view);
    this.streams = new RemoteStreams(
      view,
      this.cells,
      link,
      kept === undefined ? undefined : cursorOf(kept, this.gate),
    );
    // With a store the session's stream is followed from the start: each event is written there.
    if (kept !== undefined) this.streams.follow();
    this.#inbox = new SessionInbox({
      delegate,
      bounds: this.bounds,
      cells: this.cells,
      observers: this.observers,
      streams: this.streams,
      ledger: this.ledger,
      gate: this.gate,
      epoch: () => this.kept?.epoch,
      replays: this.replays,
      link: () => this.link,
      executing: () => this.executing,
      closed: (cellId) => this.closed(cellId),
      settled: () => this.move?.settled(),
      takenOver: (epoch) =>
        this.#storeLost(
          new CodeCellError('ERR_SESSION_MOVED', `session ${this.key} moved: its owner of epoch ${epoch} took it over`),
        ),
    });
  }

  /** Signs so far that a host ran a cell this client does not know (see HostSession#execute). */
  get heardOfCells(): number {
    return this.#inbox.heardOfCells;
  }

  /** A cell the host admitted: its initial observation holds the observer slot until it arrives. */
  admitted(cellId: CellId, mode: ObserveMode, sentAt: number): Promise<CellEvent> {
    this.cells.admitted(cellId);
    return this.observers.admitted(cellId, mode, sentAt);
  }

  /** An answer about the cell reached this client (its output items count as seen: SPEC §13). */
  delivered(cellId: CellId, answer: WireCellEvent): CellEvent {
    const event = this.cells.delivered(cellId, answer);
    this.ledger?.observed(cellId, event);
    if (event.kind === 'completed' || event.kind === 'terminated') {
      this.ledger?.drop(cellId, event);
      if (this.kept !== undefined) this.streams.handedOut(cellId, event);
    }
    return event;
  }

  /** A cell whose admission was heard after its host was lost: it runs on where they went, or ends. */
  lostOnArrival(cellId: CellId, link: HostLink): void {
    if (this.hostDead !== undefined || this.replays === undefined) {
      const error = this.hostDead ?? link.death ?? new CodeCellError('ERR_HOST_EXITED', 'codecell-host is gone');
      return this.observers.failIfAwaited(cellId, error);
    }
    this.replays.hostLost([cellId], link.brokenWhy);
    // A move under way runs it there with the others; one that ended already, here and now.
    if (this.move?.moving !== true) void this.replays.replayAll(link);
  }

  /** The cell closed (on its host, or lost with it): the delegate hears cellClosed. */
  closed(cellId: CellId): void {
    this.bounds.closed(cellId);
    const closing = Promise.resolve()
      .then(() => this.delegate.cellClosed?.(cellId))
      .catch((error: unknown) => this.link.logger.warn(`codecell: cellClosed(${cellId}) threw: ${messageOf(error)}`))
      .finally(() => this.#cellsClosing.delete(closing));
    this.#cellsClosing.add(closing);
  }

  /** Resolves once the cellClosed calls already running returned, within the session's deadline. */
  async cellsClosed(): Promise<void> {
    if (this.#cellsClosing.size === 0) return;
    const deadline = new Deadline(this.deadlineMs);
    await Promise.race([Promise.all(this.#cellsClosing), deadline.reached]);
    deadline.clear();
  }

  /** The session ended (shut down, or with its host): its streams and awaited observations with it. */
  endAll(error: CodeCellError): void {
    this.move?.wake();
    this.streams.endAll(error);
    this.observers.failAll(error);
  }

  // --- LinkedSession: what the link routes to the session ---

  receive(entry: Inbound): void {
    this.#inbox.receive(entry);
  }

  /** The host cancelled these delegate calls of the cell (cell/cancel): terminate waits for them. */
  callsCancelled(cellId: CellId, running: Promise<unknown>[]): void {
    this.cells.callsCancelled(cellId, running, this.deadlineMs);
  }

  /** A cell runs on the host, or the caller awaits something of it (an execute, an observation, the setup). */
  get runningOnHost(): boolean {
    return this.cells.runningOnHost || this.executing > 0 || this.observers.size > 0;
  }

  hostDied(error: CodeCellError): void {
    // Closed by its client (HostClient.close()): the session ends there, its streams with it.
    if (this.link.closedByClient) return this.fail(new CodeCellError('ERR_SHUTTING_DOWN', 'the HostClient was closed'));
    // Its cells are lost with the host; the session itself moves (SPEC §13) if it can.
    if (this.move?.hostLost(error) !== true) this.fail(error);
  }

  /** The host drains: the session moves once nothing of it runs there. */
  handOff(): void {
    this.move?.handOff();
  }

  // --- MovingSession: what a move does with the session ---

  get staying(): boolean {
    return this.hostDead !== undefined || this.#shuttingDown() || this.suspending;
  }

  /**
   * Whether the session is busy on its host: a cell runs or is being admitted there, or an
   * observation (an initial one included) waits for its answer from there.
   */
  busy(): boolean {
    return this.executing > 0 || (this.ledger?.running ?? 0) > 0 || this.observers.size > 0;
  }

  loseOpenCells(): void {
    // Each runs again on the next host from its ledger, or ends here (SPEC §13).
    this.replays?.hostLost(this.cells.open, this.link.brokenWhy);
  }

  async replayKept(from: HostLink): Promise<void> {
    await this.replays?.replayAll(from);
  }

  async takeUnread(from: HostLink): Promise<void> {
    const mode = { kind: 'pendingFrontier' } as const;
    const take = async (cellId: CellId): Promise<void> => {
      const event = await from.request(Methods.cellObserve, { sessionId: this.sessionId, cellId, mode });
      this.cells.hold(cellId, this.delivered(cellId, event));
    };
    const open = this.cells.open.filter((cellId) => !this.observers.has(cellId));
    await Promise.all(open.map((cellId) => take(cellId).catch(() => {})));
  }

  attach(link: HostLink, created: CreatedSession): this {
    this.ledger?.attached(created.limits);
    this.observers.moved();
    this.link = link;
    this.sessionId = created.sessionId;
    if (created.deadlineMs !== undefined) this.deadlineMs = created.deadlineMs;
    this.bounds.moved(link, created.maxResultBytes);
    this.streams.moved();
    return this;
  }

  rehomed(from: HostLink, reason: 'hostLost' | 'drain'): void {
    this.streams.rehomed(from, reason);
  }

  fail(error: CodeCellError): void {
    this.hostDead = error;
    // Cells that were to run again on another host are lost: no host took the session.
    this.replays?.loseAll();
    this.endAll(error);
    // Its lease is let go, its records left: a recovery (in this process or another) takes it up.
    this.kept?.log.end(false).catch(() => {});
  }

  /**
   * A session recovered from its store now lives on this host: its open cells run again here from
   * their journals (a call in doubt as SPEC §16 says), paused ones paused; one that cannot ends
   * `agentLost`.
   */
  async recovered(): Promise<void> {
    const ledger = this.ledger as SessionLedger;
    for (const cellId of ledger.cellIds) {
      this.cells.admitted(cellId);
      const replayable = ledger.replayable(cellId);
      if (typeof replayable !== 'string' && replayable.paused !== undefined)
        this.cells.delivered(cellId, replayable.paused);
    }
    await this.replays?.recovered(ledger.cellIds);
  }

  /** `delegate`, its calls written ahead when the session has a store (a call made outside a cell's run). */
  aheadOf(delegate: SessionRuntimeDelegate): Pick<SessionRuntimeDelegate, 'invokeTool'> {
    const ledger = this.ledger;
    if (this.kept === undefined || ledger === undefined) return delegate;
    return {
      invokeTool: async (call, signal) => {
        ledger.served(call);
        await this.gate.beforeCall();
        return delegate.invokeTool({ ...call, epoch: this.kept?.epoch as number }, signal);
      },
    };
  }

  /**
   * A person's decision on the call the cell is paused at, as the outcome the cell gets: recorded,
   * and resolved once durable (SPEC §16: a decline is committed before the cell hears it).
   */
  async decided(cellId: CellId, callId: string, outcome: CallOutcome): Promise<void> {
    const ledger = this.ledger;
    if (ledger === undefined) return;
    let text: string;
    try {
      text = 'result' in outcome ? toJsonText(outcome.result) || '' : outcome.error;
    } catch {
      return; // not JSON: the host refuses it, and the cell hears nothing of it
    }
    ledger.answered(cellId, callId, outcome, text.length, 'result' in outcome ? text : undefined);
    await this.gate.after();
  }

  /** The store can keep the session no more (another process adopted it): it ends, and says why. */
  #storeLost(error: Error): void {
    this.movedAway =
      error instanceof CodeCellError
        ? error
        : new CodeCellError('ERR_STORE_FAILED', `the session's store can keep it no more: ${messageOf(error)}`);
    const { link, sessionId } = this;
    link.request(Methods.sessionShutdown, { sessionId }).catch(() => {});
    this.fail(this.movedAway);
  }

  /** The cell runs on the session's new host (CellReplays): its followers and observers carry on there. */
  #runsAgain(cellId: CellId, replayed: CellStreamEvent): void {
    this.cells.runsAgain(cellId);
    this.streams.runsAgain(cellId, replayed);
    this.observers.runsAgain(cellId);
  }

  /** The cell ended here, lost with its host (CellReplays): its end is held and handed out once. */
  #ended(cellId: CellId, event: CellEvent): void {
    this.cells.delivered(cellId, event);
    this.cells.hold(cellId, event);
    this.observers.ended(cellId, event);
    this.streams.ended(cellId, event);
    this.closed(cellId);
  }

  /** What the session's parts see of it: where it lives now, and what they tell it. */
  #view(): ObservedSession & ReplayingSession & StreamedSession {
    const core = this;
    return {
      get link() {
        return core.link;
      },
      get sessionId() {
        return core.sessionId;
      },
      get hostDead() {
        return core.hostDead;
      },
      delivered: (cellId, answer) => this.delivered(cellId, answer),
      gate: this.gate,
      ranAgain: (cellId) => this.replays?.ran(cellId),
      runsAgainLater: (cellId) => this.replays?.has(cellId) === true,
      takeHeld: (cellId) => this.cells.takeHeld(cellId),
      forgetIfMissing: (cellId, error) => this.cells.forgetIfMissing(cellId, error),
      observed: () => this.move?.settled(),
      ended: (cellId, event) => this.#ended(cellId, event),
      runsAgain: (cellId, replayed) => this.#runsAgain(cellId, replayed),
    };
  }
}
