// A cell's initial observation crosses as a message of its own (cell/initialEvent), which can
// arrive before the answer that told the client the cell's id, or after it: whichever of the two
// comes first waits here for the other.
import type { CellEvent, CellId } from '../../src/index.js';

export class InitialEvents {
  readonly #cells = new Map<CellId, { event: CellEvent } | PromiseWithResolvers<CellEvent>>();

  /** The cell's initial event: the one that already arrived, or the one to come. */
  expect(cellId: CellId): Promise<CellEvent> {
    const early = this.#cells.get(cellId);
    if (early !== undefined && 'event' in early) {
      this.#cells.delete(cellId);
      return Promise.resolve(early.event);
    }
    const waiting = Promise.withResolvers<CellEvent>();
    this.#cells.set(cellId, waiting);
    return waiting.promise.finally(() => this.#cells.delete(cellId));
  }

  /** cell/initialEvent arrived. */
  arrived(cellId: CellId, event: CellEvent): void {
    const initial = this.#cells.get(cellId);
    if (initial === undefined) this.#cells.set(cellId, { event });
    else if (!('event' in initial)) initial.resolve(event);
  }

  /** Whether the cell's initial event is awaited and has not come. */
  awaited(cellId: CellId): boolean {
    const initial = this.#cells.get(cellId);
    return initial !== undefined && !('event' in initial);
  }

  /** The cell ended here (its host was lost): its initial event, if one is still awaited. */
  settleIfAwaited(cellId: CellId, event: CellEvent): void {
    const initial = this.#cells.get(cellId);
    if (initial !== undefined && !('event' in initial)) initial.resolve(event);
  }

  /** The cell's initial event, if one is still awaited, rejects with `error` (its host is gone). */
  failIfAwaited(cellId: CellId, error: unknown): void {
    const initial = this.#cells.get(cellId);
    if (initial !== undefined && !('event' in initial)) initial.reject(error);
  }

  /** Initial events of cells the client never learned of (a lost host's): forgotten. */
  forgetEarly(): void {
    for (const [cellId, initial] of this.#cells) if ('event' in initial) this.#cells.delete(cellId);
  }

  /** Every initial event still awaited rejects with `error` (the host died, or the session ended). */
  failAll(error: unknown): void {
    for (const initial of this.#cells.values()) if (!('event' in initial)) initial.reject(error);
    this.#cells.clear();
  }
}
