// A session's share of the CPU (SPEC §9, maxRunningCells): at most `slots` of its cells execute
// JavaScript at once. A cell holds a slot while a task runs in its isolate (its module, a tool
// result, a timer) and gives it back when the isolate goes idle (waiting on tools or timers
// costs no slot); a cell that needs one while all are held waits, in arrival order. Every
// isolate runs on a thread of its own, so without this one session's runaway cells would be as
// many runnable threads as it has cells, and every other session on the host would starve.

/** Cells holding a slot and cells waiting for one, over every gate of the process (for /metrics). */
const totals = { executing: 0, waiting: 0 };

export function runGateTotals(): { executing: number; waiting: number } {
  return { ...totals };
}

export class RunGate {
  readonly #slots: number;
  #held = 0;
  readonly #queue = new Set<() => void>();

  constructor(slots: number) {
    this.#slots = slots;
  }

  /**
   * Runs `granted` once a slot is free (at once if one is); returns a cancel for a wait that
   * was not granted yet. The holder calls `release()` once.
   */
  acquire(granted: () => void): () => void {
    if (this.#held < this.#slots && this.#queue.size === 0) {
      this.#held++;
      totals.executing++;
      granted();
      return () => {};
    }
    this.#queue.add(granted);
    totals.waiting++;
    return () => {
      if (this.#queue.delete(granted)) totals.waiting--;
    };
  }

  release(): void {
    this.#held--;
    totals.executing--;
    const [next] = this.#queue;
    if (next === undefined) return;
    this.#queue.delete(next);
    totals.waiting--;
    this.#held++;
    totals.executing++;
    next();
  }

  get executing(): number {
    return this.#held;
  }

  get waiting(): number {
    return this.#queue.size;
  }
}

/**
 * One cell's place at its session's gate: every task into its isolate enters through it. The
 * first task while the cell holds no slot asks for one; tasks that come while it waits queue
 * behind it, in order; the slot goes back when the isolate is idle or stopped.
 */
export class GateSeat {
  readonly #gate: RunGate | undefined;
  #state: 'free' | 'waiting' | 'holding' = 'free';
  #cancel: () => void = () => {};
  #queued: (() => void)[] = [];

  constructor(gate?: RunGate) {
    this.#gate = gate;
  }

  /** Tasks wait for a slot (the isolate is not idle: it has work to start). */
  get waiting(): boolean {
    return this.#queued.length > 0;
  }

  /** Runs `task` at once while the cell holds a slot (or there is no gate), else once it gets one, in order. */
  enter(task: () => void): void {
    if (this.#gate === undefined || this.#state === 'holding') return task();
    this.#queued.push(task);
    if (this.#state === 'waiting') return;
    this.#state = 'waiting';
    this.#cancel = this.#gate.acquire(() => {
      this.#state = 'holding';
      const tasks = this.#queued;
      this.#queued = [];
      for (const queued of tasks) queued();
    });
  }

  /** The isolate has no task running: its slot goes to the next cell that waits. */
  idle(): void {
    if (this.#state !== 'holding') return;
    this.#state = 'free';
    this.#gate?.release();
  }

  /** The isolate is stopped: what waited is dropped, and the slot (or the place in line) is given up. */
  leave(): void {
    if (this.#state === 'waiting') this.#cancel();
    this.idle();
    this.#state = 'free';
    this.#queued = [];
  }
}
