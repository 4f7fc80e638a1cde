// A bounded first-in first-out queue whose oldest entry goes in O(1): what a cell's replay log and
// the PendingRouter's held messages keep. Its slots grow with use up to its bound, so the many
// short cells (a text(1) cell holds a handful of events) do not each pay for the bound.

/** The slots a ring starts with; each growth doubles them, up to the ring's bound. */
const FIRST_SLOTS = 8;

/** At most `bound` entries: a push when full evicts the oldest, and shift takes the oldest. */
export class Ring<T> {
  readonly #bound: number;
  #slots: (T | undefined)[];
  #head = 0;
  #size = 0;

  constructor(bound: number) {
    if (!Number.isInteger(bound) || bound < 1) throw new RangeError(`a ring holds at least 1 entry, not ${bound}`);
    this.#bound = bound;
    this.#slots = new Array<T | undefined>(Math.min(bound, FIRST_SLOTS));
  }

  get size(): number {
    return this.#size;
  }

  /** Appends; returns the evicted oldest entry when the ring was full. */
  push(item: T): T | undefined {
    if (this.#size === this.#slots.length && this.#size < this.#bound) this.#grow();
    const capacity = this.#slots.length;
    if (this.#size < capacity) {
      this.#slots[(this.#head + this.#size) % capacity] = item;
      this.#size++;
      return undefined;
    }
    const evicted = this.#slots[this.#head];
    this.#slots[this.#head] = item;
    this.#head = (this.#head + 1) % capacity;
    return evicted;
  }

  /** Takes the oldest entry (undefined when empty). */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#slots[this.#head];
    this.#slots[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#slots.length;
    this.#size--;
    return item;
  }

  /** The newest entry (undefined when empty). */
  last(): T | undefined {
    return this.#size === 0 ? undefined : this.#slots[(this.#head + this.#size - 1) % this.#slots.length];
  }

  /** The entries, oldest first. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.#size; i++) yield this.#slots[(this.#head + i) % this.#slots.length] as T;
  }

  /** Twice the slots (at most the bound), the entries moved to the front in order. */
  #grow(): void {
    const slots = new Array<T | undefined>(Math.min(this.#bound, this.#slots.length * 2));
    for (let i = 0; i < this.#size; i++) slots[i] = this.#slots[(this.#head + i) % this.#slots.length];
    this.#slots = slots;
    this.#head = 0;
  }
}
