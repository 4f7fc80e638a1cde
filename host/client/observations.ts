// The observers of a remote session's cells, on the client: every observer of the session goes
// through this client, so the one observer slot per cell (ERR_BUSY_OBSERVER) is kept here. Each
// observation waiting for its answer keeps its mode and when it began: if the cell's host is lost
// meanwhile and the cell runs on elsewhere, it is asked again there for what is left of its time,
// so it settles once, with what the cell does on its new host (SPEC §13).
import type { CellId, ObserveMode } from '../../src/index.js';
import { busyObserverError } from '../../src/internal.js';

interface Waiting {
  readonly mode: ObserveMode;
  /** When it began (performance.now()): a `yieldAfter` counts from here, wherever it is asked. */
  readonly since: number;
}

export class Observations {
  readonly #waiting = new Map<CellId, Waiting>();

  /** How many observations wait for their answer (a hand-off waits for none). */
  get size(): number {
    return this.#waiting.size;
  }

  has(cellId: CellId): boolean {
    return this.#waiting.has(cellId);
  }

  /** The cell's observer slot, for `mode` begun at `since`; ERR_BUSY_OBSERVER when it is taken. */
  take(cellId: CellId, mode: ObserveMode, since = performance.now()): void {
    if (this.#waiting.has(cellId)) throw busyObserverError(cellId);
    this.#waiting.set(cellId, { mode, since });
  }

  /** The observation ended (answered, failed, or given up): the slot is free. */
  release(cellId: CellId): void {
    this.#waiting.delete(cellId);
  }

  /**
   * The observation waiting on the cell as it is asked again elsewhere: a `yieldAfter` for what is
   * left of its time (0 once it passed: whatever is buffered, at once), a frontier as it was.
   */
  left(cellId: CellId): ObserveMode | undefined {
    const waiting = this.#waiting.get(cellId);
    if (waiting === undefined) return undefined;
    const { mode, since } = waiting;
    if (mode.kind !== 'yieldAfter') return mode;
    return { kind: 'yieldAfter', ms: Math.max(0, Math.ceil(mode.ms - (performance.now() - since))) };
  }
}
