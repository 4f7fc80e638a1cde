// A session's stream of every cell's events (SPEC §7, §16), numbered: each event gets the next
// `seq` of its session, and the newest are kept — from when the stream was first followed, a
// seq's only source — so that a subscriber continues after the last one it read (`after`). With
// a store each event is written there and handed out only once it is durable, so nothing a
// subscriber read is lost by a crash, and a recovered session continues from its log: the same
// numbers, the events kept, and nothing a replay produces again told twice.
import { CodeCellError, messageOf } from '../errors.js';
import { EventStream, type StreamBound, type StreamSource } from './event-stream.js';
import type { CellEvent, CellId, CellStreamEvent, SessionStreamEvent } from '../types.js';

/** The events kept for a subscriber that continues (`after`): this many at most… */
export const KEPT_SESSION_EVENTS = 1_024;
/** …and about this many bytes of them. */
const KEPT_BYTES = 1024 * 1024;
/** The newest cells whose end was told, this many: a replay of one (its end unread) tells nothing again. */
const ENDED_CELLS = 1_024;
/** What a subscriber that does not keep up may leave unread: the oldest go, behind a `gap` event. */
export const UNREAD_EVENTS = 10_000;
export const UNREAD_BYTES = 16 * 1024 * 1024;

/** A session event before it is numbered. */
export type UnnumberedEvent = SessionStreamEvent extends infer E ? (E extends unknown ? Omit<E, 'seq'> : never) : never;

/** Where a session's numbering starts, and where its events are written (with a store). */
export interface SessionCursorOptions {
  /** Writes an event; it is handed out once this resolves (never, if it rejects). */
  write?: (event: SessionStreamEvent) => Promise<void>;
  /**
   * With a store: whether this process still holds the session (undefined), or why not — asked
   * when a subscriber continues past the newest event, which another owner may have told.
   */
  confirm?: () => Promise<Error | undefined>;
  /** A recovered session's: the events its log kept, oldest first (the numbering goes on after them). */
  kept?: readonly SessionStreamEvent[];
  /** A recovered session's cells whose admission the stream told, and not their end. */
  open?: Iterable<CellId>;
  /** A recovered session's open cells: what the stream told of each, not to be told twice. */
  told?: ReadonlyMap<CellId, Told>;
  /** A recovered session's cells whose end an answer handed out, and the stream never told: told first. */
  ends?: ReadonlyMap<CellId, CellEvent>;
}

/**
 * What a session's stream told of an open cell that a replay may produce again: output items (a
 * replay produces them again for the cell's observer), notifications past those its delegate got,
 * and its calls' events — counts, and the ids still unanswered, not every id: a cell makes its
 * calls in order (tool-1, tool-2, …) and a replay makes the same ids.
 */
export interface Told {
  outputs: number;
  notifications: number;
  /** The highest call number whose call was told. */
  calls: number;
  /** Calls told whose result was not told. */
  unanswered: Set<string>;
}

/** Nothing told yet. */
export const noneTold = (): Told => ({ outputs: 0, notifications: 0, calls: 0, unanswered: new Set() });

/** A call's number (tool-7: 7; 0 for an id a cell does not make). */
const callNumber = (callId: string): number => (callId.startsWith('tool-') ? Number(callId.slice(5)) || 0 : 0);

/** The stream told a call's event, or its result's. */
export function tell(told: Told, event: 'toolCall' | 'toolResult', callId: string): void {
  if (event === 'toolResult') return void told.unanswered.delete(callId);
  told.calls = Math.max(told.calls, callNumber(callId));
  told.unanswered.add(callId);
}

/** Whether the stream told this call's event (`toolCall`) or its result's before. */
export function toldBefore(told: Told, event: 'toolCall' | 'toolResult', callId: string): boolean {
  const number = callNumber(callId);
  if (number === 0 || number > told.calls) return false;
  return event === 'toolCall' || !told.unanswered.has(callId);
}

/** About how many bytes an event holds (its strings; JSON text for tool inputs). */
export function sizeOf(event: CellStreamEvent | SessionStreamEvent): number {
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

/** A copy of what was told of a cell (its own sets), with `notifications` to go with it. */
const copyOf = (told: Told, notifications: number): Told => ({
  outputs: told.outputs,
  notifications,
  calls: told.calls,
  unanswered: new Set(told.unanswered),
});

/** A session stream's gap names no cell (`cellId: ''`): the dropped events may be any cell's. */
const SESSION_STREAM_BOUND: StreamBound<SessionStreamEvent> = {
  events: UNREAD_EVENTS,
  bytes: UNREAD_BYTES,
  sizeOf,
  gap: (dropped, last) => ({ cellId: '', type: 'gap', dropped, seq: last.seq }),
  dropsIn: (event) => (event.type === 'gap' ? event.dropped : undefined),
};

/** A store asked whether the session moved is asked again after 250, 500, 1 000 and 2 000 ms. */
const CONFIRM_FIRST_WAIT_MS = 250;
const CONFIRM_LAST_WAIT_MS = 2_000;

export class SessionCursor {
  #seq: number;
  /** The newest events handed out (with their sizes), oldest first, for subscribers that continue. */
  readonly #kept: SessionStreamEvent[] = [];
  readonly #sizes: number[] = [];
  #keptBytes = 0;
  /** The seq of the newest event handed out. */
  #published: number;
  /** Whether events are made and kept: with a store, and once the stream was first followed. */
  #keeping: boolean;
  readonly #subscribers = new Set<EventStream<SessionStreamEvent>>();
  readonly #source: StreamSource<SessionStreamEvent>;
  readonly #write: ((event: SessionStreamEvent) => Promise<void>) | undefined;
  readonly #confirm: (() => Promise<Error | undefined>) | undefined;
  /** Cells whose admission was told, and not their end: one that runs again is not told again. */
  readonly #open: Set<CellId>;
  /** Per open cell that runs again: what it told before, which its replay produces again (not told twice). */
  readonly #told: Map<CellId, Told>;
  /** Per open cell, what the stream told of it so far (a kept stream's): what a replay begins from. */
  readonly #live = new Map<CellId, Told>();
  /** Cells whose end was told (the newest ENDED_CELLS), oldest first: none is told anything again. */
  readonly #ended = new Set<CellId>();
  /** Events being written (handed out once they are), and what ends the streams after them. */
  #writing = 0;
  #ending: (() => void) | undefined;
  readonly #summarize: (event: SessionStreamEvent) => SessionStreamEvent;

  /** `summarize`: what is kept (and written) of an event that may be large (a `closed` one). */
  constructor(options: SessionCursorOptions, summarize: (event: SessionStreamEvent) => SessionStreamEvent) {
    this.#summarize = summarize;
    this.#write = options.write;
    this.#confirm = options.confirm;
    this.#open = new Set(options.open);
    this.#told = new Map(options.told);
    for (const [cellId, told] of this.#told) this.#live.set(cellId, copyOf(told, 0));
    for (const event of options.kept ?? []) {
      this.#keep(event, sizeOf(event));
      if (event.type === 'closed') this.#end(event.cellId);
    }
    this.#seq = this.#published = options.kept?.at(-1)?.seq ?? 0;
    this.#keeping = this.#write !== undefined;
    for (const [cellId, event] of options.ends ?? []) this.emit({ cellId, type: 'closed', event });
    const subscribers = this.#subscribers;
    this.#source = {
      replace: (stream, next) => {
        if (subscribers.delete(stream)) subscribers.add(next);
      },
      remove: (stream) => void subscribers.delete(stream),
    };
  }

  /** The session's next event: numbered, then handed out (with a store, once it is written). */
  emit(event: UnnumberedEvent): void {
    if ('cellId' in event && this.#toldBefore(event.cellId, event)) return;
    const seq = ++this.#seq;
    if (this.#keeping) this.#emit({ ...event, seq } as SessionStreamEvent, undefined);
    else this.#published = seq;
  }

  /** A cell's event (`size`: about how many bytes it holds, when the caller knows it). */
  emitCell(cellId: CellId, event: CellStreamEvent, size: number | undefined): void {
    if (this.#toldBefore(cellId, event)) return;
    const seq = ++this.#seq;
    // Nobody followed the session yet, and no store keeps its stream: a number is all it costs.
    if (this.#keeping) this.#emit({ cellId, ...event, seq }, size);
    else this.#published = seq;
  }

  #emit(numbered: SessionStreamEvent, size: number | undefined): void {
    // What is kept (and written) of a large event is bounded; its size is then its own.
    const kept = numbered.type === 'closed' ? this.#summarize(numbered) : numbered;
    const keptSize = kept === numbered && size !== undefined ? size : sizeOf(kept);
    if (this.#write === undefined) return this.#publish(numbered, kept, keptSize);
    this.#writing++;
    this.#write(kept).then(
      () => this.#written(numbered, kept, keptSize),
      () => this.#written(undefined, kept, keptSize),
    );
  }

  /**
   * Whether the stream told the event already: the admission of a cell that runs again (on
   * another host, or after a recovery), or what its replay produces again there.
   */
  #toldBefore(cellId: CellId, event: CellStreamEvent | { type: 'admitted' }): boolean {
    // Only a kept stream tells anything (and keeps count): without, this is a number.
    if (!this.#keeping) {
      if (event.type === 'closed') this.#open.delete(cellId);
      return this.#admitted(cellId, event);
    }
    // A cell whose end was told, run again because its end was not read yet (its host lost first).
    if (this.#ended.has(cellId)) return true;
    if (event.type === 'closed') {
      this.#open.delete(cellId);
      this.#live.delete(cellId);
      this.#end(cellId);
    } else if (event.type === 'replayed') this.#replays(cellId);
    if (this.#admitted(cellId, event) || this.#replayed(cellId, event)) return true;
    this.#count(cellId, event);
    return false;
  }

  /** Whether it is the admission of a cell told admitted already (it runs again). */
  #admitted(cellId: CellId, event: CellStreamEvent | { type: 'admitted' }): boolean {
    if (event.type !== 'admitted') return false;
    if (this.#open.has(cellId)) return true;
    this.#open.add(cellId);
    return false;
  }

  /**
   * The cell runs again from its journal (another host, a recovery): what it told so far its
   * replay produces again — its output, and calls' events by id (a replay makes the same ids).
   * Notifications its delegate got are not sent again; those a recovery read it had not (ReadLog)
   * are kept.
   */
  #replays(cellId: CellId): void {
    const live = this.#live.get(cellId);
    if (live === undefined) return;
    this.#told.set(cellId, copyOf(live, this.#told.get(cellId)?.notifications ?? 0));
  }

  /** Counts an event told of an open cell (what a replay of it begins from). */
  #count(cellId: CellId, event: CellStreamEvent | { type: 'admitted' }): void {
    if (event.type !== 'output' && event.type !== 'toolCall' && event.type !== 'toolResult') return;
    let live = this.#live.get(cellId);
    if (live === undefined) this.#live.set(cellId, (live = noneTold()));
    if (event.type === 'output') live.outputs++;
    else tell(live, event.type, event.callId);
  }

  /** Whether a replay of the cell produced the event again (what it told before the cell ran again). */
  #replayed(cellId: CellId, event: CellStreamEvent | { type: 'admitted' }): boolean {
    const told = this.#told.size === 0 ? undefined : this.#told.get(cellId);
    if (told === undefined) return false;
    switch (event.type) {
      case 'output':
      case 'notification': {
        const counted = event.type === 'output' ? 'outputs' : 'notifications';
        if (told[counted] === 0) return false;
        told[counted]--;
        return true;
      }
      case 'toolCall':
      case 'toolResult':
        return toldBefore(told, event.type, event.callId);
      case 'closed':
        this.#told.delete(cellId);
        return false;
      default:
        return false;
    }
  }

  #end(cellId: CellId): void {
    this.#ended.add(cellId);
    if (this.#ended.size > ENDED_CELLS) this.#ended.delete(this.#ended.values().next().value as CellId);
  }

  /** A stream of the session's events: those kept after `after` first (when given), then live ones. */
  subscribe(after?: number): EventStream<SessionStreamEvent> {
    this.#keeping = true;
    const stream = new EventStream<SessionStreamEvent>(this.#source, undefined, SESSION_STREAM_BOUND);
    if (after !== undefined) {
      if (after > this.#published) return this.#pastNewest(after, stream);
      const oldest = this.#kept[0]?.seq ?? this.#published + 1;
      if (after < oldest - 1) stream.push({ cellId: '', type: 'gap', dropped: oldest - 1 - after, seq: oldest - 1 });
      for (const event of this.#kept) if (event.seq > after) stream.push(event);
    }
    if (this.#ending === undefined) this.#subscribers.add(stream);
    else stream.close();
    return stream;
  }

  /**
   * A subscriber continues past the newest event: refused — but with a store another process may
   * have adopted the session and told more, this one fenced out without knowing it yet. The
   * store is asked first, and the stream fails with ERR_SESSION_MOVED if so (the session ends).
   */
  #pastNewest(after: number, stream: EventStream<SessionStreamEvent>): EventStream<SessionStreamEvent> {
    const past = (why = ''): CodeCellError =>
      new CodeCellError(
        'ERR_INVALID_REQUEST',
        `events({ after: ${after} }): the session's newest event is ${this.#published}${why}`,
      );
    const confirm = this.#confirm;
    if (confirm === undefined) throw past();
    // A store that cannot answer now (a lock held, a server restarting) is asked again for a few
    // seconds; one that still cannot says so as a store failure — the follower asks again later.
    const ask = async (): Promise<Error | undefined> => {
      for (let waitMs = CONFIRM_FIRST_WAIT_MS; ; waitMs *= 2) {
        try {
          return await confirm();
        } catch (error) {
          if (waitMs > CONFIRM_LAST_WAIT_MS) throw error;
          await new Promise((resolve) => setTimeout(resolve, waitMs));
        }
      }
    };
    ask().then(
      (moved) => stream.fail(moved ?? past()),
      (error: unknown) =>
        stream.fail(
          new CodeCellError(
            'ERR_STORE_FAILED',
            `events({ after: ${after} }): past the session's newest event (${this.#published}), and the store ` +
              `could not say whether another process took the session over: ${messageOf(error)}; ask again`,
          ),
        ),
    );
    return stream;
  }

  /** Ends every stream (`error`: the session died) once the events being written were handed out. */
  endAll(error?: unknown): void {
    this.#ending ??= () => {
      for (const stream of [...this.#subscribers]) {
        if (error === undefined) stream.close();
        else stream.fail(error);
      }
    };
    if (this.#writing === 0) this.#ending();
  }

  #written(event: SessionStreamEvent | undefined, kept: SessionStreamEvent, size: number): void {
    this.#writing--;
    if (event !== undefined) this.#publish(event, kept, size);
    if (this.#writing === 0) this.#ending?.();
  }

  #publish(event: SessionStreamEvent, kept: SessionStreamEvent, size: number): void {
    this.#published = event.seq;
    this.#keep(kept, size);
    for (const stream of this.#subscribers) stream.push(event);
  }

  #keep(event: SessionStreamEvent, size: number): void {
    this.#kept.push(event);
    this.#sizes.push(size);
    this.#keptBytes += size;
    while (this.#kept.length > KEPT_SESSION_EVENTS || (this.#keptBytes > KEPT_BYTES && this.#kept.length > 1)) {
      this.#kept.shift();
      this.#keptBytes -= this.#sizes.shift() ?? 0;
    }
  }
}
