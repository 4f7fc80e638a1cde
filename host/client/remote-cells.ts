// What a RemoteSession knows of its cells: which it may still address, which it learned of (for
// events() after a cell closed), which it subscribed to, which were admitted this turn, and the
// delegate calls the host cancelled per cell. Every set is bounded like the host's own memory.
import { CodeCellError, type CellEvent, type CellId, type NestedToolCall, type OpenCell } from '../../src/index.js';
import { idempotencyKey } from '../../src/internal.js';
import type { HostTiming, WireCellEvent } from '../wire/protocol.js';
import { settledWithin } from './incoming-calls.js';

/** How many cell ids a session remembers as its own (for events() after the cell closed). */
const KNOWN_CELLS = 1_024;

export class RemoteCells {
  /** Cells this client may address: admitted, terminal event not yet received here. */
  readonly #open = new Set<CellId>();
  /** Every cell of the session this client learned of, newest last (bounded). */
  readonly #known = new Set<CellId>();
  readonly #subscribed = new Set<CellId>();
  /** Cells admitted in this turn of the event loop (see RemoteSession's cellEvents). */
  readonly #fresh = new Set<CellId>();
  /**
   * Per cell, the wait for its delegate calls that the host cancelled: they settle, or the
   * session's deadline (counted from the cancel) passes. terminate resolves after it (SPEC §6).
   */
  readonly #windingDown = new Map<CellId, Promise<void>>();
  /** Cells whose last event here was `interrupted` (paused by a CellInterrupt). */
  readonly #paused = new Map<CellId, Extract<CellEvent, { kind: 'interrupted' }>>();
  /** Open cells the host closed (their end waits for an observe or terminate here). */
  readonly #closedOnHost = new Set<CellId>();
  /** Terminal events held here for cells lost with their host (or taken before a hand-off). */
  readonly #held = new Map<CellId, CellEvent>();
  /** The host's timing of each cell as of its newest answer about it (bounded like #known). */
  readonly #timings = new Map<CellId, HostTiming>();

  /** The host admitted the cell. */
  admitted(cellId: CellId): void {
    this.#fresh.add(cellId);
    setImmediate(() => this.#fresh.delete(cellId));
    for (const ids of [this.#open, this.#known]) addBounded(ids, cellId);
  }

  /** Whether a cell of the session still runs on its host (open there, not paused). */
  get runningOnHost(): boolean {
    for (const cellId of this.#open) if (!this.#closedOnHost.has(cellId) && !this.#paused.has(cellId)) return true;
    return false;
  }

  /** The cells this client may still address. */
  get open(): CellId[] {
    return [...this.#open];
  }

  isOpen(cellId: CellId): boolean {
    return this.#open.has(cellId);
  }

  isKnown(cellId: CellId): boolean {
    return this.#known.has(cellId);
  }

  /** Admitted in this turn of the event loop. */
  isFresh(cellId: CellId): boolean {
    return this.#fresh.has(cellId);
  }

  /** Whether the cell's events were subscribed to here. */
  isSubscribed(cellId: CellId): boolean {
    return this.#subscribed.has(cellId);
  }

  /** True the first time the cell is subscribed to (the host is asked then). */
  firstSubscription(cellId: CellId): boolean {
    if (this.#subscribed.has(cellId)) return false;
    addBounded(this.#subscribed, cellId);
    return true;
  }

  /**
   * An event reached this client: a terminal one ends the cell here, as on the host. The host's
   * timing it carries is kept apart (hostTiming): the event is the runtime's own shape.
   */
  delivered(cellId: CellId, answer: WireCellEvent): CellEvent {
    let event: CellEvent = answer;
    if (answer._meta !== undefined) {
      const { _meta: timing, ...plain } = answer;
      this.timed(cellId, timing);
      event = plain as CellEvent;
    }
    if (event.kind === 'completed' || event.kind === 'terminated') {
      this.#open.delete(cellId);
      this.#closedOnHost.delete(cellId);
    }
    if (event.kind === 'interrupted') this.#paused.set(cellId, { ...event, items: [] });
    else this.#paused.delete(cellId);
    return event;
  }

  /** An answer about the cell carried the host's timing (SPEC §14). */
  timed(cellId: CellId, timing: HostTiming | undefined): void {
    if (timing === undefined || typeof timing !== 'object') return;
    this.#timings.delete(cellId);
    this.#timings.set(cellId, timing);
    if (this.#timings.size > KNOWN_CELLS) this.#timings.delete(this.#timings.keys().next().value as CellId);
  }

  /** The host's timing of the cell as of its newest answer about it. */
  timing(cellId: CellId): HostTiming | undefined {
    return this.#timings.get(cellId);
  }

  isPaused(cellId: CellId): boolean {
    return this.#paused.has(cellId);
  }

  /** The call the cell is paused at, as the delegate got it (undefined unless it is paused). */
  /** Whether the cell is paused at a call a recovery found in doubt (SPEC §16). */
  pausedInDoubt(cellId: CellId): boolean {
    return this.#paused.get(cellId)?.reason === 'inDoubt';
  }

  pausedCall(cellId: CellId, sessionKey: string): NestedToolCall | undefined {
    const paused = this.#paused.get(cellId);
    if (paused === undefined) return undefined;
    const { callId, tool, input } = paused;
    return {
      cellId,
      callId,
      tool,
      kind: 'function',
      input,
      idempotencyKey: idempotencyKey(sessionKey, cellId, callId),
    };
  }

  /** The cells the session still has, oldest first (session.cells()). */
  get listed(): OpenCell[] {
    const listed: OpenCell[] = [];
    for (const cellId of this.#open) {
      const paused = this.#paused.get(cellId);
      if (this.#closedOnHost.has(cellId)) listed.push({ cellId, state: 'ended' });
      else if (paused === undefined) listed.push({ cellId, state: 'running' });
      else {
        const { items: _, ...event } = paused;
        listed.push({ cellId, state: 'paused', paused: event });
      }
    }
    for (const cellId of this.#held.keys()) if (!this.#open.has(cellId)) listed.push({ cellId, state: 'ended' });
    return listed.sort((a, b) => Number(a.cellId) - Number(b.cellId));
  }

  /**
   * The host closed the cell: while it is open here, its end waits to be read. (It may come before
   * the answer that admits the cell here is taken in: kept, bounded as the cells known.)
   */
  closedOnHost(cellId: CellId): void {
    addBounded(this.#closedOnHost, cellId);
  }

  /** The cell runs again on another host (its own was lost before its end was read). */
  runsAgain(cellId: CellId): void {
    this.#closedOnHost.delete(cellId);
  }

  /** The open cells that are not paused (a suspend's signal terminates these). */
  get running(): CellId[] {
    return [...this.#open].filter((cellId) => !this.#paused.has(cellId));
  }

  /** The cell's end is held here (its host was lost, or is being left): handed out once. */
  hold(cellId: CellId, event: CellEvent): void {
    this.#held.set(cellId, event);
  }

  /** The held end of the cell, once (undefined if none is held). */
  takeHeld(cellId: CellId): CellEvent | undefined {
    const event = this.#held.get(cellId);
    this.#held.delete(cellId);
    return event;
  }

  /** The host does not know the cell (any more): neither does the client. */
  forgetIfMissing(cellId: CellId, error: unknown): void {
    if (error instanceof CodeCellError && error.code === 'ERR_MISSING_CELL') {
      this.#open.delete(cellId);
      this.#closedOnHost.delete(cellId);
    }
  }

  /** The host cancelled these delegate calls of the cell (cell/cancel). */
  callsCancelled(cellId: CellId, running: Promise<unknown>[], deadlineMs: number): void {
    const settled = settledWithin(running, deadlineMs);
    const before = this.#windingDown.get(cellId);
    const both = before === undefined ? settled : Promise.all([before, settled]).then(() => {});
    this.#windingDown.set(cellId, both);
    void both.then(() => {
      if (this.#windingDown.get(cellId) === both) this.#windingDown.delete(cellId);
    });
  }

  /** Resolves once the cell's cancelled delegate calls settled (or their deadline passed). */
  windingDown(cellId?: CellId): Promise<unknown> {
    if (cellId !== undefined) return this.#windingDown.get(cellId) ?? Promise.resolve();
    return Promise.all(this.#windingDown.values());
  }
}

function addBounded(ids: Set<CellId>, cellId: CellId): void {
  ids.add(cellId);
  if (ids.size > KNOWN_CELLS) ids.delete(ids.values().next().value as CellId);
}
