// A remote session's streams (SPEC §7, §8): the host relays a cell's events once this client
// subscribes (cell/subscribe) and the session's as one stream (session/subscribe); both are fanned
// out here through a CellStreams of its own. A cell lost with its host ends its stream here; one
// that runs on elsewhere, or a session that moved, is subscribed again on the new host.
import {
  CodeCellError,
  type CellEvent,
  type CellId,
  type CellStreamEvent,
  type EventsOptions,
} from '../../src/index.js';
import type { HandOffStream, SessionStreamEvent } from '../../src/index.js';
import { CellStreams, messageOf, type SessionCursorOptions } from '../../src/internal.js';
import { Methods, type SessionId } from '../wire/protocol.js';
import type { HostLink } from './link.js';
import type { RemoteCells } from './remote-cells.js';

/** What the streams need of their session (HostSession). */
export interface StreamedSession {
  readonly link: HostLink;
  readonly sessionId: SessionId;
  /** Why the session ended with its host, if it did: its streams fail with it. */
  readonly hostDead: CodeCellError | undefined;
  /** Whether the cell waits to run again on the session's next host (its subscription follows it there). */
  runsAgainLater(cellId: CellId): boolean;
}

/** The newest ends handed out whose `closed` is awaited from the host, at most (RemoteStreams#untold). */
const UNTOLD_ENDS = 1_024;

export class RemoteStreams {
  readonly #session: StreamedSession;
  readonly #cells: RemoteCells;
  readonly #streams: CellStreams;
  #sessionSubscribed = false;
  /**
   * With a store: cells whose end an answer handed out (it is written) before the host relayed
   * their `closed` — told here if the session moves first, so the stream tells every end.
   */
  readonly #untold = new Map<CellId, CellEvent>();

  /** `cursor`: with a store, where the session stream's events are written (and its numbering goes on from). */
  constructor(session: StreamedSession, cells: RemoteCells, link: HostLink, cursor?: SessionCursorOptions) {
    this.#session = session;
    this.#cells = cells;
    this.#streams = new CellStreams({ logger: link.logger, retainClosed: 64, sessionFromCells: false, cursor });
  }

  /** The cell's stream events (SPEC §7): the host holds them until the first subscription. */
  cell(cellId: CellId, options: EventsOptions): HandOffStream<CellStreamEvent> {
    const { hostDead, link, sessionId } = this.#session;
    if (hostDead !== undefined) throw hostDead;
    if (!this.#cells.isKnown(cellId)) throw new CodeCellError('ERR_MISSING_CELL', `unknown cell ${cellId}`);
    if (this.#cells.firstSubscription(cellId)) {
      // The host sends the held events (or its replay, `from: 'start'`); they fill the local log.
      // A subscription made as the client learned the cell asks for the replay: the cell ran on
      // the host meanwhile, and its record from admission (1 024 events / 1 MiB) loses nothing
      // that the hold (128) would drop (SPEC §8: a subscriber sees every event from the first).
      this.#streams.admit(cellId);
      const from = options.from ?? (this.#cells.isFresh(cellId) ? 'start' : 'now');
      link.request(Methods.cellSubscribe, { sessionId, cellId, from }).catch((error: unknown) => {
        // The host no longer has the cell's events (or is gone): the stream ends, or fails —
        // unless the cell runs again on another host, which it subscribes to then.
        if (this.#session.runsAgainLater(cellId)) return;
        const dead = this.#session.hostDead;
        this.#streams.end(cellId, dead);
        if (dead === undefined) link.logger.warn(`codecell: subscribing to cell ${cellId} failed: ${messageOf(error)}`);
      });
    }
    return this.#streams.subscribe(cellId, options);
  }

  /**
   * Every cell's events: the host sends them as one stream (session/event) once this client first
   * follows the session (with a store, from its creation); they are numbered here (the host's
   * numbers are its own), from then on.
   */
  session(after: number | undefined): HandOffStream<SessionStreamEvent> {
    const { hostDead } = this.#session;
    if (hostDead !== undefined) throw hostDead;
    const stream = this.#streams.subscribeSession(after);
    this.follow();
    return stream;
  }

  /** Asks the host for the session's events (once). */
  follow(): void {
    if (this.#sessionSubscribed) return;
    this.#sessionSubscribed = true;
    const { link, sessionId } = this.#session;
    link.request(Methods.sessionSubscribe, { sessionId }).catch((error: unknown) => {
      if (this.#session.hostDead === undefined)
        link.logger.warn(`codecell: following session ${sessionId} failed: ${messageOf(error)}`);
    });
  }

  /** cell/event: one of the cell's events, relayed by the host. */
  emit(cellId: CellId, event: CellStreamEvent): void {
    this.#streams.emit(cellId, event);
  }

  /** session/event: one of the session's events, relayed by the host. */
  emitSession(event: SessionStreamEvent): void {
    if (event.type === 'closed') this.#untold.delete(event.cellId);
    this.#streams.emitSession(event);
  }

  /** With a store: an answer handed out the cell's end (see #untold). */
  handedOut(cellId: CellId, event: CellEvent): void {
    this.#untold.set(cellId, event);
    if (this.#untold.size > UNTOLD_ENDS) this.#untold.delete(this.#untold.keys().next().value as CellId);
  }

  /**
   * The session lives on a new host: followed there before any cell runs again on it (what a
   * replay tells at once — its end, when the journal held the whole run — is not missed). Ends
   * handed out that the lost host never relayed are told first.
   */
  moved(): void {
    for (const [cellId, event] of this.#untold)
      this.#streams.emitSession({ cellId, type: 'closed', event: { ...event, items: [] } });
    this.#untold.clear();
    const { link, sessionId } = this.#session;
    if (this.#sessionSubscribed) link.request(Methods.sessionSubscribe, { sessionId }).catch(() => {});
  }

  /** The session moved to a new host (its cells run again there): its followers hear it. */
  rehomed(from: HostLink, reason: 'hostLost' | 'drain'): void {
    this.#streams.emitSession({ type: 'rehomed', from: from.name, to: this.#session.link.name, reason });
  }

  /** The cell runs on the session's new host: its followers hear it, and its stream goes on there. */
  runsAgain(cellId: CellId, replayed: CellStreamEvent): void {
    this.#streams.emit(cellId, replayed);
    this.#streams.emitSession({ cellId, ...replayed });
    const { link, sessionId } = this.#session;
    if (this.#cells.isSubscribed(cellId))
      link.request(Methods.cellSubscribe, { sessionId, cellId, from: 'now' }).catch(() => {});
  }

  /** The cell ended here, lost with its host: its stream closes with that end. */
  ended(cellId: CellId, event: CellEvent): void {
    if (this.#cells.firstSubscription(cellId)) this.#streams.admit(cellId);
    this.#streams.emit(cellId, { type: 'closed', event });
    this.#streams.emitSession({ cellId, type: 'closed', event });
  }

  /** The session ended: its streams end, or fail with ERR_HOST_EXITED when its host died. */
  endAll(error: CodeCellError): void {
    this.#streams.endAll(error.code === 'ERR_HOST_EXITED' ? error : undefined);
  }
}
