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
const UNREAD_EVENTS = 10_000;
const UNREAD_BYTES = 16 * 1024 * 1024;
const CELL_STREAM_BOUND: StreamBound<CellStreamEvent> = {
  events: UNREAD_EVENTS,
  bytes: UNREAD_BYTES,
  sizeOf: (event) => sizeOf(event),
  gap: (dropped) => ({ type: 'gap', dropped }),
  dropsIn: (event) => (event.type === 'gap' ? event.dropped : undefined),
};
/** A session stream's gap names no cell (`cellId: ''`): the dropped events may be any cell's. */
const SESSION_STREAM_BOUND: StreamBound<SessionStreamEvent> = {
  events: UNREAD_EVENTS,
  bytes: UNREAD_BYTES,
  sizeOf: (event) => (event.type === 'admitted' || event.type === 'rehomed' ? 32 : sizeOf(event)),
  gap: (dropped) => ({ cellId: '', type: 'gap', dropped }),
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
}

/** A cell's replay log and live subscribers. */
interface CellLog {
  readonly events: CellStreamEvent[];
  readonly sizes: number[];
  bytes: number;
  dropped: number;
  closed: boolean;
  /** Held open from admission until the cell's first subscriber registers it with the router. */
  guard: PendingGuard | undefined;
  readonly subscribers: Set<EventStream<CellStreamEvent>>;
}

const isClosed = (event: CellStreamEvent): boolean => event.type === 'closed';

/** About how many bytes an event holds (its strings; JSON text for tool inputs). */
function sizeOf(event: CellStreamEvent): number {
  switch (event.type) {
    case 'output':
      return 32 + (event.item.type === 'text' ? event.item.text.length : event.item.imageUrl.length);
    case 'notification':
      return 32 + event.text.length;
    case 'toolCall':
      return 64 + (JSON.stringify(event.input)?.length ?? 0);
    case 'toolResult':
      return 48 + (event.error?.length ?? 0);
    case 'closed':
      return (
        64 +
        event.event.items.reduce(
          (sum, item) => sum + (item.type === 'text' ? item.text.length : item.imageUrl.length),
          0,
        )
      );
    default:
      return 32;
  }
}

export class CellStreams {
  readonly #logs = new Map<CellId, CellLog>();
  /** Closed cells whose log is kept, oldest first. */
  readonly #closed = new Set<CellId>();
  readonly #session = new Set<EventStream<SessionStreamEvent>>();
  readonly #options: CellStreamsOptions;
  readonly #sessionSource: StreamSource<SessionStreamEvent>;
  /** Holds each cell's events until its first subscriber (SPEC §7), then routes them to its subscribers. */
  readonly #held: PendingRouter<CellId, CellStreamEvent, never>;

  constructor(options: CellStreamsOptions) {
    this.#options = options;
    this.#sessionSource = sourceOf(this.#session);
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

  /** An event for the session-wide streams only. */
  emitSession(event: SessionStreamEvent): void {
    for (const stream of this.#session) stream.push(event);
  }

  /** `size`: the event's size when the caller knows it (else it is estimated here). */
  emit(cellId: CellId, event: CellStreamEvent, size = sizeOf(event)): void {
    const log = this.#logOf(cellId);
    if (log.closed) return;
    // What is kept of a closed cell is bounded (its live subscribers get the event whole).
    const kept = event.type === 'closed' ? summarized(event) : event;
    const keptSize = kept === event ? size : sizeOf(kept);
    log.events.push(kept);
    log.sizes.push(keptSize);
    log.bytes += keptSize;
    while (log.events.length > REPLAY_EVENTS || (log.bytes > REPLAY_BYTES && log.events.length > 1)) {
      log.events.shift();
      log.bytes -= log.sizes.shift() ?? 0;
      log.dropped++;
    }
    // Until the cell's first subscriber the router holds what is kept, bounded by its size.
    if (log.guard === undefined) this.#held.routeNotification(cellId, event);
    else this.#held.routeNotification(cellId, kept, keptSize);
    // The session-wide event is made only for someone to hear it.
    if (this.#options.sessionFromCells && this.#session.size > 0) this.emitSession({ cellId, ...event });
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
      const last = log.events.at(-1);
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

  /** A stream of every cell's events from now on, admissions included. */
  subscribeSession(): EventStream<SessionStreamEvent> {
    const stream = new EventStream<SessionStreamEvent>(this.#sessionSource, undefined, SESSION_STREAM_BOUND);
    this.#session.add(stream);
    return stream;
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
    for (const stream of [...this.#session]) finish(stream, error);
  }

  #logOf(cellId: CellId): CellLog {
    let log = this.#logs.get(cellId);
    if (log === undefined) {
      log = {
        events: [],
        sizes: [],
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
function summarized(event: Extract<CellStreamEvent, { type: 'closed' }>): CellStreamEvent {
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
