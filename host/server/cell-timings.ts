// The host's own timing of a session's cells (SPEC §14): how long each waited to be admitted here
// and how long it has run since. Every answer about a cell carries it in `_meta`, so a client sees
// where the time went without tracing.
import type { CellId } from '../../src/index.js';
import type { HostTiming } from '../wire/wire-types.js';

/** Closed cells whose timing is kept (an observation may be answered just after the cell closed). */
const CLOSED_KEPT = 64;

interface Timing {
  queuedMs: number;
  admittedAt: number;
  /** When the cell closed (its run time stops there). */
  closedAt?: number;
}

export class CellTimings {
  /** Per cell admitted here: its wait, when it began to run, and when it closed. */
  readonly #cells = new Map<CellId, Timing>();
  /** The closed cells still kept, oldest first. */
  readonly #closed = new Set<CellId>();

  /** The runtime admitted the cell (its session's observer): it runs from now. */
  began(cellId: CellId): void {
    this.#cells.set(cellId, { queuedMs: 0, admittedAt: performance.now() });
  }

  /**
   * The request that admitted the cell arrived at `receivedAt` (performance.now()): its wait is
   * known once that request's admission returns (the cell may have closed meanwhile).
   */
  received(cellId: CellId, receivedAt: number): void {
    const timing = this.#cells.get(cellId);
    if (timing !== undefined) timing.queuedMs = milliseconds(timing.admittedAt - receivedAt);
  }

  /** The cell closed (its session's observer): its run time stops here. */
  closed(cellId: CellId): void {
    const timing = this.#cells.get(cellId);
    if (timing === undefined || timing.closedAt !== undefined) return;
    timing.closedAt = performance.now();
    this.#closed.add(cellId);
    if (this.#closed.size <= CLOSED_KEPT) return;
    const oldest = this.#closed.values().next().value as CellId;
    this.#closed.delete(oldest);
    this.#cells.delete(oldest);
  }

  /** The cell's timing now, if this host admitted it. */
  of(cellId: CellId): HostTiming | undefined {
    const timing = this.#cells.get(cellId);
    if (timing === undefined) return undefined;
    const ranMs = milliseconds((timing.closedAt ?? performance.now()) - timing.admittedAt);
    return { queuedMs: timing.queuedMs, ranMs };
  }

  /** An answer about the cell with its timing in `_meta`. */
  stamped<T extends object>(cellId: CellId, answer: T): T & { _meta?: HostTiming } {
    const timing = this.of(cellId);
    return timing === undefined ? answer : { ...answer, _meta: timing };
  }
}

/** A duration in milliseconds to the microsecond. */
function milliseconds(duration: number): number {
  return Math.round(duration * 1_000) / 1_000;
}
