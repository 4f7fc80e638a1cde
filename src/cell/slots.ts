// The concurrency bound of a cell's tool calls (limits.maxConcurrentToolCalls).

const noop = (): void => {};

/**
 * The tool calls' concurrency bound: a call starts at once while a slot is free (no queue hop on
 * the hot path), else when one frees, in order. `clear()` drops the waiting ones.
 */
export class Slots {
  readonly #limit: number;
  #running = 0;
  #waiting: (() => void)[] = [];
  #next = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Runs `task` in a slot, held until the task calls the `free` it is given (once). */
  add(task: (free: () => void) => void): void {
    if (this.#running < this.#limit) this.#run(task);
    else this.#waiting.push(() => this.#run(task));
  }

  clear(): void {
    this.#waiting = [];
    this.#next = 0;
  }

  #run(task: (free: () => void) => void): void {
    this.#running++;
    task(this.#free);
  }

  readonly #free = (): void => {
    this.#running--;
    const start = this.#waiting[this.#next];
    if (start === undefined) return;
    this.#waiting[this.#next++] = noop;
    if (this.#next === this.#waiting.length) this.clear();
    start();
  };
}
