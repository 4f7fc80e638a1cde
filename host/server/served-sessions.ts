// One connection's sessions on codecell-host: the runtimes by id, and what goes out about them
// unasked (initial observations, the events of subscribed cells and sessions).
import type {
  CellEvent,
  CellId,
  CellStreamEvent,
  EventsOptions,
  Logger,
  SessionRuntime,
  SessionStreamEvent,
} from '../../src/index.js';
import { CodeCellError } from '../../src/index.js';
import { messageOf, readByTurn, type TraceMeta } from '../../src/internal.js';
import { invalidParams, type Notify } from '../wire/rpc.js';
import { Methods, type CellJournalPart, type SessionId } from '../wire/protocol.js';
import { CellTimings } from './cell-timings.js';
import type { JournalMirror } from './journal-mirror.js';
import type { HostStats } from './stats.js';

export class ServedSessions {
  readonly #notify: Notify;
  readonly #logger: Logger;
  readonly #stats: HostStats;
  readonly #runtimes = new Map<SessionId, SessionRuntime>();
  /** Per session, the cells whose events go to the client (cell/subscribe). */
  readonly #relayed = new Map<SessionId, Set<CellId>>();
  /** Sessions whose session-wide events go to the client (session/subscribe). */
  readonly #followed = new Set<SessionId>();
  /** Per session, the host's timing of its cells (in `_meta` of each answer about one). */
  readonly #timings = new Map<SessionId, CellTimings>();
  /** Per mirrored session, what its client has of each running cell's journal. */
  readonly #mirrors = new Map<SessionId, JournalMirror>();
  /** Per session, the trace context each cell's caller sent (carried on by a host that records no spans). */
  readonly #traces = new Map<SessionId, Map<CellId, TraceMeta>>();
  /** Initial observations not yet sent, per session (a shutdown answers after them). */
  readonly #initialSends = new Map<SessionId, Set<Promise<void>>>();
  /** Sessions created with a fencing epoch: what ends their hold on it (SessionEpochs). */
  readonly #leaves = new Map<SessionId, () => void>();
  /** Sessions a newer owner of their key took over here: why each request about one is refused. */
  readonly #moved = new Map<SessionId, CodeCellError>();
  #seq = 0;

  constructor(notify: Notify, logger: Logger, stats: HostStats) {
    this.#notify = notify;
    this.#logger = logger;
    this.#stats = stats;
  }

  get size(): number {
    return this.#runtimes.size;
  }

  /** The id the next session gets. */
  nextId(): SessionId {
    return String(++this.#seq);
  }

  add(sessionId: SessionId, runtime: SessionRuntime): void {
    this.#stats.sessions++;
    this.#runtimes.set(sessionId, runtime);
    this.#relayed.set(sessionId, new Set());
    this.#initialSends.set(sessionId, new Set());
    this.#timings.set(sessionId, new CellTimings());
  }

  /** The session's client keeps its cells' journals (session/create's `mirror`). */
  mirror(sessionId: SessionId, mirror: JournalMirror): void {
    this.#mirrors.set(sessionId, mirror);
  }

  /** Before a message about the cell: its journal goes first, if the session is mirrored. */
  flush(sessionId: SessionId, cellId: CellId): void {
    this.#mirrors.get(sessionId)?.flush(cellId);
  }

  /** What goes with a delegate call of the cell (a tool call's `callId`) of its journal, if the session is mirrored. */
  journalOf(sessionId: SessionId, cellId: CellId, callId?: string): CellJournalPart | undefined {
    return this.#mirrors.get(sessionId)?.take(cellId, callId);
  }

  /** The client answered a tool call of the cell with a value (see JournalMirror#answered). */
  answered(sessionId: SessionId, cellId: CellId, callId: string): void {
    this.#mirrors.get(sessionId)?.answered(cellId, callId);
  }

  /** The cell closed: its journal is no longer sent. */
  cellClosed(sessionId: SessionId, cellId: CellId): void {
    this.#mirrors.get(sessionId)?.closed(cellId);
    this.#traces.get(sessionId)?.delete(cellId);
  }

  /** The trace context the cell's caller sent (execute's, replay's or resume's `_meta`), if any. */
  traced(sessionId: SessionId, cellId: CellId, meta: TraceMeta | undefined): void {
    if (meta?.traceparent === undefined || !this.#runtimes.has(sessionId)) return;
    let cells = this.#traces.get(sessionId);
    if (cells === undefined) this.#traces.set(sessionId, (cells = new Map()));
    cells.set(cellId, {
      traceparent: meta.traceparent,
      ...(meta.tracestate === undefined ? {} : { tracestate: meta.tracestate }),
    });
  }

  /** The trace context the cell's caller sent, if any. */
  traceOf(sessionId: SessionId, cellId: CellId): TraceMeta | undefined {
    return this.#traces.get(sessionId)?.get(cellId);
  }

  /** The session's runtime, or -32602 for an id this connection does not have (ERR_SESSION_MOVED: taken over). */
  get(sessionId: SessionId): SessionRuntime {
    const moved = this.#moved.get(sessionId);
    if (moved !== undefined) throw moved;
    const runtime = this.#runtimes.get(sessionId);
    if (runtime === undefined) throw invalidParams(`unknown session ${sessionId}`);
    return runtime;
  }

  /** The session holds its key's fencing epoch until it ends (`leave`). */
  holds(sessionId: SessionId, leave: () => void): void {
    this.#leaves.set(sessionId, leave);
  }

  /** A newer owner of the session's key created it on this host: its client is told, and it ends. */
  async takenOver(sessionId: SessionId, key: string, newer: number): Promise<void> {
    const runtime = this.#runtimes.get(sessionId);
    if (runtime === undefined || this.#moved.has(sessionId)) return;
    const error = new CodeCellError(
      'ERR_SESSION_MOVED',
      `session ${key} moved: its owner of epoch ${newer} is on this host`,
    );
    this.#moved.set(sessionId, error);
    // Remembered for a while: the former owner learns on its next request, if not from this.
    if (this.#moved.size > 1_000) this.#moved.delete(this.#moved.keys().next().value as SessionId);
    this.#notify(Methods.sessionMoved, { sessionId, epoch: newer });
    await runtime.shutdown();
    await this.forget(sessionId);
  }

  /** The session's cell timings (an unknown session's are new and empty: nothing is stamped). */
  timings(sessionId: SessionId): CellTimings {
    return this.#timings.get(sessionId) ?? new CellTimings();
  }

  /**
   * Sends the cell's initial observation once it is there, after the answer that named the cell.
   * (Its events are held by the runtime until the client subscribes: SPEC §7, one PendingRouter.)
   */
  sendInitialEvent(sessionId: SessionId, cellId: CellId, initialEvent: Promise<CellEvent>): void {
    const sends = this.#initialSends.get(sessionId);
    const sent: Promise<void> = initialEvent
      .then(
        (event) =>
          new Promise<void>((resolve) =>
            setImmediate(() => {
              const stamped = this.timings(sessionId).stamped(cellId, event);
              this.flush(sessionId, cellId);
              resolve(this.#notify(Methods.cellInitialEvent, { sessionId, cellId, event: stamped }));
            }),
          ),
        (error: unknown) =>
          this.#logger.warn(`codecell-host: the initial observation of cell ${cellId} failed: ${messageOf(error)}`),
      )
      .finally(() => sends?.delete(sent));
    sends?.add(sent);
  }

  /** Relays the cell's events from `from` on (once per cell at a time). */
  subscribeCell(sessionId: SessionId, cellId: CellId, from: EventsOptions['from']): void {
    const runtime = this.get(sessionId);
    const cells = this.#relayed.get(sessionId);
    if (cells === undefined || cells.has(cellId)) return;
    // The runtime's stream: what it held for the cell's first subscriber (or its replay), then live.
    const stream = runtime.events(cellId, from === undefined ? {} : { from });
    cells.add(cellId);
    // A turn at a time: relaying a cell that floods never counts against it (readByTurn).
    const relay = (event: CellStreamEvent): void => {
      this.flush(sessionId, cellId);
      this.#notify(Methods.cellEvent, { sessionId, cellId, event });
    };
    readByTurn(stream[Symbol.asyncIterator](), relay)
      .catch((error: unknown) =>
        this.#logger.warn(`codecell-host: relaying the events of cell ${cellId} failed: ${messageOf(error)}`),
      )
      .finally(() => cells.delete(cellId));
  }

  /** Relays the session's own events (once per session). */
  subscribeSession(sessionId: SessionId): void {
    const runtime = this.get(sessionId);
    if (this.#followed.has(sessionId)) return;
    this.#followed.add(sessionId);
    const relay = (event: SessionStreamEvent): void => {
      if ('cellId' in event) this.flush(sessionId, event.cellId);
      this.#notify(Methods.sessionEvent, { sessionId, event });
    };
    readByTurn(runtime.events()[Symbol.asyncIterator](), relay).catch((error: unknown) =>
      this.#logger.warn(`codecell-host: relaying the events of session ${sessionId} failed: ${messageOf(error)}`),
    );
  }

  /** Forgets a session once its cells' initial observations went out (bounded). */
  async forget(sessionId: SessionId): Promise<void> {
    const sends = [...(this.#initialSends.get(sessionId) ?? [])];
    if (this.#runtimes.delete(sessionId)) this.#stats.sessions--;
    this.#leaves.get(sessionId)?.();
    this.#leaves.delete(sessionId);
    this.#relayed.delete(sessionId);
    this.#followed.delete(sessionId);
    this.#initialSends.delete(sessionId);
    this.#timings.delete(sessionId);
    this.#mirrors.delete(sessionId);
    this.#traces.delete(sessionId);
    const bound = new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref());
    await Promise.race([Promise.all(sends), bound]);
  }

  /** Shuts every session down (each within its deadline) and forgets them all. */
  async shutdownAll(): Promise<void> {
    const runtimes = [...this.#runtimes.values()];
    this.#runtimes.clear();
    this.#relayed.clear();
    this.#initialSends.clear();
    this.#timings.clear();
    this.#mirrors.clear();
    this.#traces.clear();
    for (const leave of this.#leaves.values()) leave();
    this.#leaves.clear();
    await Promise.all(runtimes.map((runtime) => this.#stats.timed('shutDown', () => runtime.shutdown())));
    this.#stats.sessions -= runtimes.length;
  }
}
