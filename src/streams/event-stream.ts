// The subscriber side of an event stream: an async iterator over a queue. Concurrent next()
// calls are answered in the order they were made. A stream ends after its last event, or with an
// error (its source died) once the events queued before it were read, and can be handed to
// another consumer without losing, duplicating or reordering anything.
import { quiet } from '../errors.js';

/** Where a stream is fed from: the stream asks it to swap itself for its successor, or to forget it. */
export interface StreamSource<T> {
  replace(stream: EventStream<T>, next: EventStream<T>): void;
  remove(stream: EventStream<T>): void;
}

/**
 * What a stream holds for a consumer that does not keep up: at most `events` and about `bytes`
 * (by `sizeOf`); past that the oldest are dropped, and the next read gets `gap(dropped, last)`
 * first (`last`: the newest event it stands for).
 * A gap that came from upstream (a relayed stream's own) counts for what it stands for
 * (`dropsIn`): dropped, or met behind the gap due, it is added to that gap, never lost.
 */
export interface StreamBound<T> {
  events: number;
  bytes: number;
  sizeOf(event: T): number;
  gap(dropped: number, last: T): T;
  /** How many events a gap event stands for; undefined for any other event. */
  dropsIn?(event: T): number | undefined;
}

export class EventStream<T> implements AsyncIterableIterator<T> {
  #queue: T[] = [];
  #queuedBytes = 0;
  /** Events dropped by the bound since the last read (a gap event is due), and the newest of them. */
  #dropped = 0;
  #lastDropped: T | undefined;
  readonly #bound: StreamBound<T> | undefined;
  readonly #waiting: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void }[] = [];
  #done = false;
  #error: unknown;
  readonly #source: StreamSource<T>;
  readonly #isLast: (event: T) => boolean;

  constructor(source: StreamSource<T>, isLast: (event: T) => boolean = () => false, bound?: StreamBound<T>) {
    this.#source = source;
    this.#isLast = isLast;
    this.#bound = bound;
  }

  /** Delivers an event (ignored once the stream ended); the last one ends the stream after it. */
  push(event: T): void {
    if (this.#done) return;
    const waiting = this.#waiting.shift();
    if (waiting !== undefined) waiting.resolve({ value: event, done: false });
    else this.#enqueue(event);
    if (this.#isLast(event)) this.#finish();
  }

  #enqueue(event: T): void {
    this.#queue.push(event);
    const bound = this.#bound;
    if (bound === undefined) return;
    this.#queuedBytes += bound.sizeOf(event);
    while (this.#queue.length > 1 && (this.#queue.length > bound.events || this.#queuedBytes > bound.bytes)) {
      const dropped = this.#queue.shift() as T;
      this.#queuedBytes -= bound.sizeOf(dropped);
      this.#dropped += bound.dropsIn?.(dropped) ?? 1;
      this.#lastDropped = dropped;
    }
  }

  /** The next queued event: a gap event first when the bound dropped some. */
  #dequeue(): T {
    if (this.#dropped > 0 && this.#bound !== undefined) {
      // Gaps queued right behind the one due are one gap.
      for (let more = this.#bound.dropsIn?.(this.#queue[0] as T); more !== undefined && this.#queue.length > 0;) {
        const merged = this.#queue.shift() as T;
        this.#queuedBytes -= this.#bound.sizeOf(merged);
        this.#dropped += more;
        this.#lastDropped = merged;
        more = this.#queue.length > 0 ? this.#bound.dropsIn?.(this.#queue[0] as T) : undefined;
      }
      const gap = this.#bound.gap(this.#dropped, this.#lastDropped as T);
      this.#dropped = 0;
      this.#lastDropped = undefined;
      return gap;
    }
    const event = this.#queue.shift() as T;
    if (this.#bound !== undefined) this.#queuedBytes -= this.#bound.sizeOf(event);
    return event;
  }

  /** Ends the stream with `error`: next() rejects with it once the queued events were read. */
  fail(error: unknown): void {
    if (this.#done) return;
    this.#error = error;
    this.#finish();
  }

  /** Ends the stream from its source's side: next() reports the end once the queue was read. */
  close(): void {
    this.#finish();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#queue.length > 0) return Promise.resolve({ value: this.#dequeue(), done: false });
    if (this.#done)
      return this.#error === undefined
        ? Promise.resolve({ value: undefined, done: true })
        : quiet(Promise.reject(this.#error));
    // A next() nobody awaits must not crash anyone when the stream fails.
    return quiet(
      new Promise((resolve, reject) => {
        this.#waiting.push({ resolve, reject });
      }),
    );
  }

  return(): Promise<IteratorResult<T>> {
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#dropped = 0;
    this.#error = undefined;
    this.#finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  /**
   * Hands the stream to another consumer, in four steps that nothing can come between: the source
   * stops feeding this stream, this stream ends (pending next() calls see its end), the events it
   * had not handed out move to the new stream in order, and the source feeds the new one from
   * now on. Every event reaches exactly one of the two consumers, in order.
   */
  handOff(): EventStream<T> {
    const next = new EventStream<T>(this.#source, this.#isLast, this.#bound);
    const queued = this.#queue;
    const { error, ended } = { error: this.#error, ended: this.#done };
    next.#queuedBytes = this.#queuedBytes;
    next.#dropped = this.#dropped;
    next.#lastDropped = this.#lastDropped;
    this.#lastDropped = undefined;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#dropped = 0;
    if (!ended) this.#source.replace(this, next);
    this.#done = true;
    this.#error = undefined;
    for (const waiting of this.#waiting.splice(0)) waiting.resolve({ value: undefined, done: true });
    next.#queue = queued;
    if (ended) {
      next.#done = true;
      next.#error = error;
    }
    return next;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#source.remove(this);
    for (const waiting of this.#waiting.splice(0)) {
      if (this.#error === undefined) waiting.resolve({ value: undefined, done: true });
      else waiting.reject(this.#error);
    }
  }
}
