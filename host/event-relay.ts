// A session's cell events on the host side of protocol v2: nothing goes on the wire until the
// client subscribes to a cell. Until the client's decision (cell/subscribe, or
// cell/noSubscriber right after it learned the cell's id) every event is held, so a subscription
// made as soon as execute resolved sees all of them; after a "no", only the newest 128 are kept,
// for the newest 64 closed cells, as in-process. A bound that drops reports once, with a count.
// A subscription `from: 'start'` replaces all that with the runtime's replay of the cell.
import type { CellId, CellStreamEvent, Logger } from '../src/index.js';

/** Held while the client has not decided (a runaway cell cannot grow it past this). */
const MAX_UNDECIDED = 10_000;
/** Held after the client said nobody listens (as SessionRuntime holds for a late subscriber). */
const MAX_DECLINED = 128;
const RETAINED_CLOSED = 64;

interface Relayed {
  state: 'undecided' | 'declined' | 'subscribed';
  held: CellStreamEvent[];
  dropped: number;
  closed: boolean;
  stop(): void;
  /** The runtime's replay of the cell from its admission (`from: 'start'`). */
  replay(): AsyncIterable<CellStreamEvent>;
}

export class EventRelay {
  readonly #cells = new Map<CellId, Relayed>();
  /** Closed cells nobody subscribed to, oldest first. */
  readonly #retained = new Set<CellId>();
  readonly #send: (cellId: CellId, event: CellStreamEvent) => void;
  readonly #logger: Logger;

  constructor(send: (cellId: CellId, event: CellStreamEvent) => void, logger: Logger) {
    this.#send = send;
    this.#logger = logger;
  }

  /** Starts taking the cell's events (at admission); `replay` gives them again from the start. */
  watch(cellId: CellId, events: AsyncIterable<CellStreamEvent>, replay: () => AsyncIterable<CellStreamEvent>): void {
    const cell: Relayed = { state: 'undecided', held: [], dropped: 0, closed: false, stop: () => {}, replay };
    this.#cells.set(cellId, cell);
    this.#follow(cellId, cell, events);
  }

  /**
   * cell/subscribe: what was held, then every event as it happens; `from: 'start'` (before any
   * other subscription) the runtime's replay of the cell instead. False for an unknown cell.
   */
  subscribe(cellId: CellId, from: 'now' | 'start' = 'now'): boolean {
    const cell = this.#cells.get(cellId);
    if (cell === undefined) return false;
    if (cell.state === 'subscribed') return true;
    cell.state = 'subscribed';
    if (from === 'start') {
      cell.stop();
      cell.held = [];
      this.#follow(cellId, cell, cell.replay());
      return true;
    }
    if (cell.dropped > 0) this.#logger.warn(`codecell-host: cell ${cellId} lost its ${cell.dropped} oldest events before the subscription`);
    for (const event of cell.held.splice(0)) this.#send(cellId, event);
    if (cell.closed) this.#forget(cellId);
    return true;
  }

  #follow(cellId: CellId, cell: Relayed, events: AsyncIterable<CellStreamEvent>): void {
    const iterator = events[Symbol.asyncIterator]();
    let stopped = false;
    cell.stop = () => {
      stopped = true;
      void iterator.return?.();
    };
    void (async () => {
      for (let next = await iterator.next(); next.done !== true && !stopped; next = await iterator.next()) this.#take(cellId, cell, next.value);
    })().catch((error: unknown) => this.#logger.warn(`codecell-host: relaying the events of cell ${cellId} failed: ${String(error)}`));
  }

  /** cell/noSubscriber: keep only what a late subscriber would get in-process. */
  decline(cellId: CellId): void {
    const cell = this.#cells.get(cellId);
    if (cell === undefined || cell.state !== 'undecided') return;
    cell.state = 'declined';
    this.#trim(cell, MAX_DECLINED);
  }

  /** The session is gone. */
  closeAll(): void {
    for (const cell of this.#cells.values()) cell.stop();
    this.#cells.clear();
    this.#retained.clear();
  }

  #take(cellId: CellId, cell: Relayed, event: CellStreamEvent): void {
    if (cell.state === 'subscribed') this.#send(cellId, event);
    else {
      cell.held.push(event);
      this.#trim(cell, cell.state === 'undecided' ? MAX_UNDECIDED : MAX_DECLINED);
    }
    if (event.type !== 'closed') return;
    cell.closed = true;
    if (cell.state === 'subscribed') {
      this.#forget(cellId);
      return;
    }
    this.#retained.add(cellId);
    if (this.#retained.size > RETAINED_CLOSED) {
      const [oldest] = this.#retained;
      if (oldest !== undefined) this.#forget(oldest);
    }
  }

  #trim(cell: Relayed, bound: number): void {
    const excess = cell.held.length - bound;
    if (excess <= 0) return;
    cell.held.splice(0, excess);
    cell.dropped += excess;
  }

  #forget(cellId: CellId): void {
    this.#cells.get(cellId)?.stop();
    this.#cells.delete(cellId);
    this.#retained.delete(cellId);
  }
}
