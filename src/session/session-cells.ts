// The cells of one session by where they are in their life: live ones (counted against
// maxCellsPerSession), interrupted ones (counted too: they hold a journal; a suspend does not wait
// for them), committed ones whose terminal event nobody took yet (the newest 64, so
// the next observe or terminate still gets it), and committed ones still winding down (a
// shutdown waits for their cellClosed within its deadline).
import type { Cell } from '../cell/cell.js';
import { messageOf } from '../errors.js';
import type { Deadline } from '../cell/deadline.js';
import type { CellId, Logger, OpenCell } from '../types.js';

/** How many committed, unread terminal events a session keeps (older ones are dropped). */
export const MAX_UNREAD_TERMINALS = 64;

export class SessionCells {
  readonly #live = new Map<CellId, Cell>();
  readonly #interrupted = new Map<CellId, Cell>();
  readonly #unread = new Map<CellId, Cell>();
  readonly #windingDown = new Set<Cell>();
  /** Waiting for the live cells to be none (suspend). */
  #drained: (() => void)[] = [];
  readonly #logger: Logger;
  /** Set by shutdown: nobody can read a terminal event any more. */
  #shuttingDown = false;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  get liveCount(): number {
    return this.#live.size + this.#interrupted.size;
  }

  add(cell: Cell): void {
    this.#live.set(cell.id, cell);
  }

  /** The cells running now. */
  get live(): Cell[] {
    return [...this.#live.values()];
  }

  /** The cells a CellInterrupt paused. */
  get interrupted(): Cell[] {
    return [...this.#interrupted.values()];
  }

  /** Resolves once no cell is live (every one committed its outcome). */
  whenDrained(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /**
   * Resolves once no cell runs and no paused cell has a call in flight but the one it paused at
   * (a suspend waits for this); `signal` terminates the running cells and cancels those calls.
   */
  async settled(signal: AbortSignal | undefined): Promise<void> {
    // Cells a terminate of the caller's already ends are left to it.
    const stop = (): void => {
      for (const cell of this.live) cell.terminate().catch(() => {});
    };
    if (signal?.aborted === true) stop();
    else signal?.addEventListener('abort', stop, { once: true });
    try {
      await this.whenDrained();
      await Promise.all(this.interrupted.map((cell) => cell.callsSettled(signal)));
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }

  /** A cell paused (CellInterrupt), or running again (resumeCell). */
  paused(cell: Cell, paused: boolean): void {
    if (paused) {
      this.#live.delete(cell.id);
      this.#interrupted.set(cell.id, cell);
      this.#drainedIfNone();
    } else {
      this.#interrupted.delete(cell.id);
      this.#live.set(cell.id, cell);
    }
  }

  #drainedIfNone(): void {
    if (this.#live.size === 0) for (const resolve of this.#drained.splice(0)) resolve();
  }

  /** The cells the session still has, oldest first (session.cells()). */
  get open(): OpenCell[] {
    const listed: OpenCell[] = [];
    for (const cell of this.#live.values()) listed.push({ cellId: cell.id, state: 'running' });
    for (const cell of this.#interrupted.values()) {
      const paused = cell.pausedEvent;
      if (paused === undefined) continue;
      const { items: _, ...event } = paused;
      listed.push({ cellId: cell.id, state: 'paused', paused: event });
    }
    for (const cell of this.#unread.values()) if (cell.isOpen) listed.push({ cellId: cell.id, state: 'ended' });
    return listed.sort((a, b) => Number(a.cellId) - Number(b.cellId));
  }

  /** The cell an observe, terminate or events call may address. */
  get(cellId: CellId): Cell | undefined {
    const cell = this.#live.get(cellId) ?? this.#interrupted.get(cellId) ?? this.#unread.get(cellId);
    return cell?.isOpen === true ? cell : undefined;
  }

  /** The cell's outcome is committed: its slot is free; an unread terminal event is kept. */
  committed(cell: Cell, unread: boolean): void {
    this.#live.delete(cell.id);
    this.#interrupted.delete(cell.id);
    this.#windingDown.add(cell);
    this.#drainedIfNone();
    if (!unread || this.#shuttingDown) return;
    this.#unread.set(cell.id, cell);
    if (this.#unread.size <= MAX_UNREAD_TERMINALS) return;
    const [oldest] = this.#unread.keys();
    if (oldest === undefined) return;
    this.#unread.delete(oldest);
    this.#logger.warn(
      `codecell: dropped the unread terminal event of cell ${oldest}: more than ` +
        `${MAX_UNREAD_TERMINALS} cells finished unobserved`,
    );
  }

  taken(cell: Cell): void {
    this.#unread.delete(cell.id);
  }

  closed(cell: Cell): void {
    this.#windingDown.delete(cell);
  }

  /** Shuts every live cell down and waits (within the deadline) for those winding down. */
  async shutdown(deadline: Deadline): Promise<void> {
    const live = [...this.#live.values(), ...this.#interrupted.values()];
    const windingDown = [...this.#windingDown];
    this.#shuttingDown = true;
    this.#unread.clear();
    const results = await Promise.allSettled([
      ...live.map((cell) => cell.shutdown(deadline)),
      Promise.race([Promise.all(windingDown.map((cell) => cell.closed)), deadline.reached]),
    ]);
    for (const result of results) {
      if (result.status === 'rejected')
        this.#logger.error(`codecell: shutting a cell down failed: ${messageOf(result.reason)}`);
    }
  }
}
