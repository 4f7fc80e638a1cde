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

export class EventStream<T> implements AsyncIterableIterator<T> {
  #queue: T[] = [];
  readonly #waiting: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void }[] = [];
  #done = false;
  #error: unknown;
  readonly #source: StreamSource<T>;
  readonly #isLast: (event: T) => boolean;

  constructor(source: StreamSource<T>, isLast: (event: T) => boolean = () => false) {
    this.#source = source;
    this.#isLast = isLast;
  }

  /** Delivers an event (ignored once the stream ended); the last one ends the stream after it. */
  push(event: T): void {
    if (this.#done) return;
    const waiting = this.#waiting.shift();
    if (waiting !== undefined) waiting.resolve({ value: event, done: false });
    else this.#queue.push(event);
    if (this.#isLast(event)) this.#finish();
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
    if (this.#queue.length > 0) return Promise.resolve({ value: this.#queue.shift() as T, done: false });
    if (this.#done) return this.#error === undefined ? Promise.resolve({ value: undefined, done: true }) : quiet(Promise.reject(this.#error));
    // A next() nobody awaits must not crash anyone when the stream fails.
    return quiet(
      new Promise((resolve, reject) => {
        this.#waiting.push({ resolve, reject });
      }),
    );
  }

  return(): Promise<IteratorResult<T>> {
    this.#queue = [];
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
    const next = new EventStream<T>(this.#source, this.#isLast);
    const queued = this.#queue;
    const { error, ended } = { error: this.#error, ended: this.#done };
    this.#queue = [];
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
