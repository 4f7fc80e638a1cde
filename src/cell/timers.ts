// The host side of a cell's timers: the sandbox's setTimeout (bounded, clamped like Node's) and
// the wall-time and CPU-time watchdogs of its limits.
import type { CellLimits } from '../limits.js';

const MAX_HOST_TIMERS = 10_000;
const MAX_DELAY_MS = 2_147_483_647;

/** The sandbox's pending timers; each fires once into the sandbox through `fire`. */
export class SandboxTimers {
  readonly #timers = new Map<number, ReturnType<typeof setTimeout>>();
  readonly #fire: (id: number) => void;

  constructor(fire: (id: number) => void) {
    this.#fire = fire;
  }

  /** Timers set and not yet fired or cleared. */
  get size(): number {
    return this.#timers.size;
  }

  set(id: number, ms: number): void {
    if (this.#timers.size >= MAX_HOST_TIMERS || this.#timers.has(id)) return;
    const delay = Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_DELAY_MS) : 0;
    const timer = setTimeout(() => {
      this.#timers.delete(id);
      this.#fire(id);
    }, delay);
    this.#timers.set(id, timer);
  }

  clear(id: number): void {
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
  }

  clearAll(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}

/**
 * Calls `onLimit` once the cell ran longer than wallTimeMs or used more than cpuTimeMs of CPU
 * (polled every tenth of the limit, 5–50 ms). Returns the function that stops watching.
 */
export function watchTimeLimits(
  limits: Pick<CellLimits, 'wallTimeMs' | 'cpuTimeMs'>,
  cpuTimeMs: () => number,
  onLimit: (why: string) => void,
): () => void {
  const { wallTimeMs, cpuTimeMs: cpuLimitMs } = limits;
  const wall =
    wallTimeMs > 0
      ? setTimeout(() => onLimit(`its wallTimeMs limit of ${wallTimeMs} ms passed`), wallTimeMs)
      : undefined;
  const every = Math.max(5, Math.min(50, Math.floor(cpuLimitMs / 10)));
  const cpu = (): void => void (cpuTimeMs() > cpuLimitMs && onLimit(`it used its cpuTimeMs limit of ${cpuLimitMs} ms`));
  const poll = cpuLimitMs > 0 ? setInterval(cpu, every) : undefined;
  return () => {
    clearTimeout(wall);
    clearInterval(poll);
  };
}
