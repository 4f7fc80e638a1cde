// src/streams/ — events as streams: a session's cell streams (this file), the subscriber side
// (event-stream.ts) and PendingRouter (pending-router.ts), the one buffer for messages to ids not
// yet registered. It imports only src/'s own base files (types, errors, logger); session/ and
// host/ (through index.ts and internal.ts) import it.
//
// The event streams of one session (SPEC §7): per cell, and session-wide. What a cell emits
// before its first subscriber is held by the session's one PendingRouter (a guard per cell from
// its admission until that subscriber registers the cell: the newest 128 events, one warning
// with the count when older ones were dropped). Beside it, each cell keeps its replay log, the
// record of what happened (`from: 'start'`: its newest 1 024 events / ~1 MiB, a `gap` event first
// when some were dropped). Closed cells keep both for the newest `retainClosed` of them. Shared by
// the in-process runtime, the host's relay (which subscribes to the runtime's streams) and the
// remote session of HostClient.
import { CodeCellError } from '../errors.js';
import { EventStream, type StreamBound, type StreamSource } from './event-stream.js';
import { PendingRouter, type PendingGuard } from './pending-router.js';
import { Ring } from './ring.js';
import {
  SessionCursor,
  sizeOf,
  UNREAD_BYTES,
  UNREAD_EVENTS,
  type SessionCursorOptions,
  type UnnumberedEvent,
} from './session-cursor.js';
import type { CellId, CellStreamEvent, EventsOptions, Logger, SessionStreamEvent } from '../types.js';

/** What a cell's first subscriber gets from before it subscribed (the router's bound per cell). */
const FIRST_SUBSCRIBER_EVENTS = 128;
/** A cell's log (what a replay can show): this many events at most… */
export const REPLAY_EVENTS = 1_024;
/** …and at most about this many bytes of them (measured as their JSON text, roughly). */
export const REPLAY_BYTES = 1024 * 1024;
/**
 * What a kept `closed` event (held or in the log) carries of the cell's last output: its newest
 * items up to this many bytes, behind a note of how many were left out. Live subscribers get it
 * whole; the items were on the stream as `output` events anyway.
 */
export const CLOSED_ITEMS_BYTES = 64 * 1024;

/** What a subscriber that does not keep up may leave unread: the oldest go, behind a `gap` event. */
const CELL_STREAM_BOUND: StreamBound<CellStreamEvent> = {
  events: UNREAD_EVENTS,
  bytes: UNREAD_BYTES,
  sizeOf: (event) => sizeOf(event),
  gap: (dropped) => ({ type: 'gap', dropped }),
  dropsIn: (event) => (event.type === 'gap' ? event.dropped : undefined),
};

export interface CellStreamsOptions {
  logger: Logger;
  /** How many closed cells keep their log, for late subscribers and replays (oldest dropped first). */
  retainClosed: number;
  /**
   * Whether session-wide streams are fed from the cells' events here (in-process), or only
   * through emitSession (a remote session, whose host sends them as one stream).
   */
  sessionFromCells: boolean;
  /** Where the session stream's numbering starts, and where its events are written (a store's). */
  cursor?: SessionCursorOptions | undefined;
}

/** A cell's replay log and live subscribers. */
interface CellLog {
  /** The newest REPLAY_EVENTS events, and each one's size. */
  readonly events: Ring<CellStreamEvent>;
  readonly sizes: Ring<number>;
  bytes: number;
  dropped: number;
  closed: boolean;
  /** Held open from admission until the cell's first subscriber registers it with the router. */
  guard: PendingGuard | undefined;
  readonly subscribers: Set<EventStream<CellStreamEvent>>;
}

const isClosed = (event: CellStreamEvent): boolean => event.type === 'closed';

export class CellStreams {
  readonly #logs = new Map<CellId, CellLog>();
  /** Closed cells whose log is kept, oldest first. */
  readonly #closed = new Set<CellId>();
  readonly #session: SessionCursor;
  readonly #options: CellStreamsOptions;
  /** Holds each cell's events until its first subscriber (SPEC §7), then routes them to its subscribers. */
  readonly #held: PendingRouter<CellId, CellStreamEvent, never>;

  constructor(options: CellStreamsOptions) {
    this.#options = options;
    this.#session = new SessionCursor(options.cursor ?? {}, (event) =>
      event.type === 'closed' ? { ...summarized(event), cellId: event.cellId, seq: event.seq } : event,
    );
    this.#held = new PendingRouter({
      label: 'cell',
      maxEntriesPerKey: FIRST_SUBSCRIBER_EVENTS,
      maxBytesPerKey: REPLAY_BYTES,
      // Each held event carries the size emit() was given (or measured) once (routeNotification's
      // `size`); this measures any other.
      sizeOf: (entry) => (entry.type === 'notification' ? sizeOf(entry.message as CellStreamEvent) : 0),
      logger: options.logger,
    });
  }

  /** Whether the cell's events are (still) kept. */
  has(cellId: CellId): boolean {
    return this.#logs.has(cellId);
  }

  /** A cell was admitted: its log starts, and session-wide subscribers hear of it. */
  admit(cellId: CellId): void {
    this.#logOf(cellId);
    if (this.#options.sessionFromCells) this.emitSession({ cellId, type: 'admitted' });
  }

  /** An event for the session-wide streams only (numbered here: a `seq` it has is replaced). */
  emitSession(event: UnnumberedEvent): void {
    this.#session.emit(event);
  }

  /** `size`: the event's size when the caller knows it (else it is estimated here). */
  emit(cellId: CellId, event: CellStreamEvent, size = sizeOf(event)): void {
    const log = this.#logOf(cellId);
    if (log.closed) return;
    // What is kept of a closed cell is bounded (its live subscribers get the event whole).
    const kept = event.type === 'closed' ? summarized(event) : event;
    const keptSize = kept === event ? size : sizeOf(kept);
    // A long cell's oldest event goes as each new one comes (in O(1): a ring, not an array's shift).
    const dropped = log.events.push(kept);
    log.bytes += keptSize - (log.sizes.push(keptSize) ?? 0);
    if (dropped !== undefined) log.dropped++;
    while (log.bytes > REPLAY_BYTES && log.events.size > 1) {
      log.events.shift();
      log.bytes -= log.sizes.shift() ?? 0;
      log.dropped++;
    }
    // Until the cell's first subscriber the router holds what is kept, bounded by its size.
    if (log.guard === undefined) this.#held.routeNotification(cellId, event);
    else this.#held.routeNotification(cellId, kept, keptSize);
    if (this.#options.sessionFromCells) this.#session.emitCell(cellId, event, size);
    if (event.type !== 'closed') return;
    log.closed = true;
    this.#closed.add(cellId);
    if (this.#closed.size > this.#options.retainClosed) {
      const [oldest] = this.#closed;
      if (oldest !== undefined) this.#forget(oldest);
    }
  }

  /** A stream of the cell's events; where it begins is `options.from` (see EventsOptions). */
  subscribe(cellId: CellId, options: EventsOptions = {}): EventStream<CellStreamEvent> {
    const log = this.#logs.get(cellId);
    if (log === undefined) throw new CodeCellError('ERR_MISSING_CELL', `unknown cell ${cellId}`);
    const stream = new EventStream<CellStreamEvent>(sourceOf(log.subscribers), isClosed, CELL_STREAM_BOUND);
    const first = log.guard !== undefined;
    if (options.from === 'start') {
      // The replay log has everything the router held: those go quietly.
      if (first) this.#register(cellId, log, true);
      if (!log.closed) log.subscribers.add(stream);
      for (const event of log.dropped > 0
        ? [{ type: 'gap', dropped: log.dropped } as const, ...log.events]
        : log.events)
        stream.push(event);
    } else if (first) {
      // The router hands this stream what it held, in order, then routes to it from now on.
      log.subscribers.add(stream);
      this.#register(cellId, log, false);
    } else if (log.closed) {
      // A later subscriber of a closed cell: its `closed` event (the log's last) ends the stream.
      const last = log.events.last();
      if (last === undefined) stream.close();
      else stream.push(last);
    } else {
      log.subscribers.add(stream);
    }
    return stream;
  }

  /** The cell's first subscriber: its held events go to the subscribers (or nowhere), then live ones. */
  #register(cellId: CellId, log: CellLog, dropHeld: boolean): void {
    if (dropHeld) this.#held.unregister(cellId);
    this.#held.register(cellId, (entry) => {
      if (entry.type === 'notification') for (const stream of log.subscribers) stream.push(entry.message);
    });
    log.guard?.release();
    log.guard = undefined;
  }

  /** A stream of every cell's events, admissions included: from now on, or those after `after` first. */
  subscribeSession(after?: number): EventStream<SessionStreamEvent> {
    return this.#session.subscribe(after);
  }

  /** Ends the cell's streams without a `closed` event (its events are no longer available). */
  end(cellId: CellId, error?: unknown): void {
    const log = this.#logs.get(cellId);
    for (const stream of [...(log?.subscribers ?? [])]) finish(stream, error);
    this.#forget(cellId);
  }

  /** Ends every stream (the session is gone; with `error` when it died): logs are dropped. */
  endAll(error?: unknown): void {
    for (const cellId of [...this.#logs.keys()]) this.end(cellId, error);
    this.#session.endAll(error);
  }

  #logOf(cellId: CellId): CellLog {
    let log = this.#logs.get(cellId);
    if (log === undefined) {
      log = {
        events: new Ring(REPLAY_EVENTS),
        sizes: new Ring(REPLAY_EVENTS),
        bytes: 0,
        dropped: 0,
        closed: false,
        guard: this.#held.begin(),
        subscribers: new Set(),
      };
      this.#logs.set(cellId, log);
    }
    return log;
  }

  #forget(cellId: CellId): void {
    const log = this.#logs.get(cellId);
    this.#logs.delete(cellId);
    this.#closed.delete(cellId);
    // Nobody can subscribe any more: what the router held (or routes) for it goes quietly.
    this.#held.unregister(cellId);
    log?.guard?.release();
  }
}

/** A `closed` event with its newest items up to CLOSED_ITEMS_BYTES, behind a note of the others. */
function summarized(event: Extract<CellStreamEvent, { type: 'closed' }>): Extract<CellStreamEvent, { type: 'closed' }> {
  const items = event.event.items;
  let bytes = 0;
  let first = items.length;
  while (first > 0) {
    const item = items[first - 1];
    const size = item === undefined ? 0 : item.type === 'text' ? item.text.length : item.imageUrl.length;
    if (bytes + size > CLOSED_ITEMS_BYTES) break;
    bytes += size;
    first--;
  }
  if (first === 0) return event;
  const note = { type: 'text' as const, text: `[${first} earlier output item(s) of this event are not kept]` };
  return { type: 'closed', event: { ...event.event, items: [note, ...items.slice(first)] } };
}

function finish<T>(stream: EventStream<T>, error: unknown): void {
  if (error === undefined) stream.close();
  else stream.fail(error);
}

/** The source side of a set of subscribers: hand-off swaps one for its successor in place. */
function sourceOf<T>(subscribers: Set<EventStream<T>>): StreamSource<T> {
  return {
    replace: (stream, next) => {
      if (!subscribers.delete(stream)) return;
      subscribers.add(next);
    },
    remove: (stream) => void subscribers.delete(stream),
  };
}
