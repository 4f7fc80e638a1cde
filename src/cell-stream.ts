// The subscriber side of a cell's event stream: an async iterator over a queue that ends after
// the `closed` event. Concurrent next() calls are answered in the order they were made.
import type { CellStreamEvent } from './types.js';

export class CellStream implements AsyncIterableIterator<CellStreamEvent> {
  readonly #queue: CellStreamEvent[] = [];
  readonly #waiting: ((result: IteratorResult<CellStreamEvent>) => void)[] = [];
  #done = false;
  readonly #onReturn: () => void;

  constructor(onReturn: () => void) {
    this.#onReturn = onReturn;
  }

  push(event: CellStreamEvent): void {
    if (this.#done) return;
    const waiting = this.#waiting.shift();
    if (waiting !== undefined) waiting({ value: event, done: false });
    else this.#queue.push(event);
    if (event.type === 'closed') this.#finish();
  }

  next(): Promise<IteratorResult<CellStreamEvent>> {
    const event = this.#queue.shift();
    if (event !== undefined) return Promise.resolve({ value: event, done: false });
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
    });
  }

  return(): Promise<IteratorResult<CellStreamEvent>> {
    this.#queue.length = 0;
    this.#finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<CellStreamEvent> {
    return this;
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#onReturn();
    for (const waiting of this.#waiting.splice(0)) waiting({ value: undefined, done: true });
  }
}
