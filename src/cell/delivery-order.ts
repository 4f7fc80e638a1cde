// A deterministic cell's deliveries (SessionRuntimeOptions.deterministic): each enters the cell in
// the order its call or timer was issued, never in the order it happened to arrive. A cell's next
// calls then come in the same order on every run, which is what an engine that keys steps by
// their position needs (ADR 24).
import type { JournalDelivery } from './journal.js';

/** What the runtime's determinism is given: Math.random's seed and the time the clock reads. */
export interface Deterministic {
  /** Seeds Math.random (an unsigned 32-bit integer). */
  readonly seed: number;
  /** What Date.now() (and new Date(), Intl's "now") reads in the cell, for the whole cell (ms since the epoch). */
  readonly now: number;
}

const keyOf = (delivery: JournalDelivery): string =>
  delivery.kind === 'timer' ? `t${delivery.id}` : `c${delivery.callId}`;

export class DeliveryOrder {
  /** Calls (`c<id>`) and timers (`t<id>`) issued and not yet delivered, oldest first. */
  readonly #issued: string[] = [];
  /** The same keys, to look one up without a scan (a cell may have 10 000 calls in flight). */
  readonly #waiting = new Set<string>();
  /** Deliveries that arrived before those issued ahead of them. */
  readonly #ready = new Map<string, JournalDelivery>();
  readonly #deliver: (delivery: JournalDelivery) => void;

  constructor(deliver: (delivery: JournalDelivery) => void) {
    this.#deliver = deliver;
  }

  /** The cell made a call. */
  call(callId: string): void {
    this.#issue(`c${callId}`);
  }

  /** The cell set a timer. */
  timer(id: number): void {
    this.#issue(`t${id}`);
  }

  #issue(key: string): void {
    this.#issued.push(key);
    this.#waiting.add(key);
  }

  /** The cell cleared a timer: it never fires, and waits for nothing. */
  cleared(id: number): void {
    const key = `t${id}`;
    if (!this.#waiting.delete(key)) return;
    this.#issued.splice(this.#issued.indexOf(key), 1);
    this.#flush();
  }

  /** A delivery arrived: it enters now if everything issued before it has, else it waits its turn. */
  offer(delivery: JournalDelivery): void {
    const key = keyOf(delivery);
    if (!this.#waiting.has(key)) return this.#deliver(delivery); // nothing it could wait for
    this.#ready.set(key, delivery);
    this.#flush();
  }

  #flush(): void {
    for (let next = this.#ready.get(this.#issued[0] ?? ''); next !== undefined;) {
      const key = this.#issued.shift() as string;
      this.#ready.delete(key);
      this.#waiting.delete(key);
      this.#deliver(next);
      next = this.#ready.get(this.#issued[0] ?? '');
    }
  }
}
