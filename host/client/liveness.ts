// Whether a host still answers: while requests are outstanding, a host silent for the liveness
// bound is pinged, and one that leaves the ping unanswered as long again is given up.

export class Liveness {
  readonly #boundMs: number;
  #lastHeard = performance.now();
  /** Something arrived since the watchdog last looked (it reads the clock then, not per message). */
  #heard = false;
  #pingSent: number | undefined;
  #watchdog: ReturnType<typeof setInterval> | undefined;

  /** `boundMs` 0 or less: never watched. */
  constructor(boundMs: number) {
    this.#boundMs = boundMs;
  }

  get boundMs(): number {
    return this.#boundMs;
  }

  /** Something arrived from the host. */
  heard(): void {
    this.#heard = true;
  }

  /**
   * Watches while `outstanding()` is above zero: `ping()` once the host was silent for the bound,
   * `silent()` when the ping went unanswered as long again.
   */
  watch(outstanding: () => number, ping: () => void, silent: () => void): void {
    if (this.#watchdog !== undefined || this.#boundMs <= 0) return;
    this.#lastHeard = performance.now();
    this.#heard = false;
    const check = (): void => {
      if (outstanding() === 0) return this.stop();
      const now = performance.now();
      if (this.#heard) {
        this.#heard = false;
        this.#lastHeard = now;
        this.#pingSent = undefined;
      }
      if (now - this.#lastHeard < this.#boundMs) return;
      if (this.#pingSent === undefined) {
        this.#pingSent = now;
        ping();
      } else if (now - this.#pingSent >= this.#boundMs) silent();
    };
    this.#watchdog = setInterval(check, Math.max(10, Math.floor(this.#boundMs / 4)));
    this.#watchdog.unref();
  }

  stop(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }
}
