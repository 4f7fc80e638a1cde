// The one deadline shared by every callback cancelled together (SPEC §6).

const noop = (): void => {};

/**
 * A point in time shared by every callback being cancelled together (one terminate, or every cell
 * of a shutdown). `reached` resolves at the deadline; `clear()` releases the timer early.
 */
export class Deadline {
  readonly reached: Promise<void>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resolve: () => void = noop;

  constructor(ms: number) {
    this.reached = new Promise((resolve) => {
      this.#resolve = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#resolve();
  }
}
