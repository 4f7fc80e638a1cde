// Per-cell event streams of one session (SPEC §7): events from admission until the first
// subscriber are held by a PendingRouter guard, the newest 128 per cell. Shared by the
// in-process runtime and the remote session of HostClient.
import { CellStream } from './cell-stream.js';
import { CodeCellError } from './errors.js';
import { PendingRouter, type PendingGuard } from './pending-router.js';
import type { CellId, CellStreamEvent, Logger } from './types.js';

export interface CellStreamsOptions {
  logger: Logger;
  /**
   * How many closed cells nobody subscribed to keep their held events for a late first
   * subscriber (the oldest are dropped first). The remote session needs this because it learns
   * a cell's id only after the cell's initial observation, when the cell may have closed.
   */
  retainClosed?: number;
}

export class CellStreams {
  readonly #router: PendingRouter<CellId, CellStreamEvent, never>;
  readonly #guards = new Map<CellId, PendingGuard>();
  readonly #subscribers = new Map<CellId, Set<CellStream>>();
  /** Closed cells without a subscriber yet, oldest first. */
  readonly #retained = new Set<CellId>();
  readonly #retainClosed: number;

  constructor(options: CellStreamsOptions) {
    this.#router = new PendingRouter({ label: 'cell', logger: options.logger });
    this.#retainClosed = options.retainClosed ?? 0;
  }

  /** Opens the holding window for a cell whose id is not known yet. */
  begin(): PendingGuard {
    return this.#router.begin();
  }

  /** The cell's id is known: its guard is held until the cell's `closed` event. */
  track(cellId: CellId, guard: PendingGuard): void {
    this.#guards.set(cellId, guard);
  }

  emit(cellId: CellId, event: CellStreamEvent): void {
    this.#router.routeNotification(cellId, event);
    if (event.type !== 'closed') return;
    if (this.#subscribers.has(cellId) || this.#retainClosed === 0) {
      this.#forget(cellId);
      return;
    }
    this.#retained.add(cellId);
    if (this.#retained.size > this.#retainClosed) {
      const [oldest] = this.#retained;
      if (oldest !== undefined) this.#forget(oldest);
    }
  }

  #forget(cellId: CellId): void {
    this.#retained.delete(cellId);
    this.#router.unregister(cellId);
    this.#subscribers.delete(cellId);
    this.#guards.get(cellId)?.release();
    this.#guards.delete(cellId);
  }

  /** A new subscriber; the first one receives what was held since admission. */
  subscribe(cellId: CellId): AsyncIterable<CellStreamEvent> {
    if (!this.#guards.has(cellId)) throw new CodeCellError('ERR_MISSING_CELL', `unknown cell ${cellId}`);
    let subscribers = this.#subscribers.get(cellId);
    const stream = new CellStream(() => subscribers?.delete(stream));
    if (subscribers === undefined) {
      const created = new Set<CellStream>([stream]);
      subscribers = created;
      this.#subscribers.set(cellId, created);
      this.#router.register(cellId, (entry) => {
        if (entry.type === 'notification') for (const subscriber of created) subscriber.push(entry.message);
      });
      // A retained closed cell has just flushed its whole stream, `closed` included.
      if (this.#retained.has(cellId)) this.#forget(cellId);
    } else {
      subscribers.add(stream);
    }
    return stream;
  }

  /** Ends the cell's streams without a `closed` event (its events are no longer available). */
  end(cellId: CellId): void {
    for (const subscriber of this.#subscribers.get(cellId) ?? []) void subscriber.return();
    this.#forget(cellId);
  }

  /** Ends every stream (the session is gone): subscribers finish, held events are dropped. */
  endAll(): void {
    for (const [cellId, subscribers] of this.#subscribers) {
      for (const subscriber of subscribers) void subscriber.return();
      this.#router.unregister(cellId);
    }
    this.#subscribers.clear();
    for (const cellId of this.#retained) this.#router.unregister(cellId);
    this.#retained.clear();
    for (const guard of this.#guards.values()) guard.release();
    this.#guards.clear();
  }
}
