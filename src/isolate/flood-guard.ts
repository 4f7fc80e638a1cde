// isolated-vm delivers a cell's messages to Node's main thread in one loop until none is left,
// so a cell that never stops sending would starve every timer, limit and other session. The
// guard notices a run of messages that kept the main thread busy for `limitMs` without the event
// loop turning once.
export class FloodGuard {
  readonly #limitMs: number;
  #runStart: number | undefined;
  /** Called on every message of a flood (the caller ends the cell; the messages are dropped). */
  onFlood: () => void = () => {};

  constructor(limitMs: number) {
    this.#limitMs = limitMs;
  }

  /** Records one message; true when it belongs to a flood. */
  flooding(): boolean {
    const now = performance.now();
    if (this.#runStart === undefined) {
      this.#runStart = now;
      setImmediate(() => {
        this.#runStart = undefined;
      });
      return false;
    }
    if (now - this.#runStart < this.#limitMs) return false;
    this.onFlood();
    return true;
  }
}
