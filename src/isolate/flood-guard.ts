// isolated-vm delivers a cell's messages to Node's main thread in one loop until none is left,
// so a cell that never stops sending would starve every timer, limit and other session. The
// guard notices a run of messages that kept the main thread busy for `limitMs` without the event
// loop turning once — and that is a run of many messages: on a starved machine one turn of the
// loop can take that long while a cell sends only a few (a tool call, another after its result).
export class FloodGuard {
  readonly #limitMs: number;
  readonly #minMessages: number;
  #runStart: number | undefined;
  #messages = 0;
  /** Called on every message of a flood (the caller ends the cell; the messages are dropped). */
  onFlood: () => void = () => {};

  constructor(limitMs: number, minMessages = 1_000) {
    this.#limitMs = limitMs;
    this.#minMessages = minMessages;
  }

  /** Records one message; true when it belongs to a flood. */
  flooding(): boolean {
    if (this.#runStart === undefined) {
      this.#runStart = performance.now();
      this.#messages = 0;
      setImmediate(() => {
        this.#runStart = undefined;
      });
      return false;
    }
    // The clock is read again only once a run is long enough to be a flood.
    if (++this.#messages < this.#minMessages || performance.now() - this.#runStart < this.#limitMs) return false;
    this.onFlood();
    return true;
  }
}
