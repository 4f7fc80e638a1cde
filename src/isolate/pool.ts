// A warm pool of pristine isolates (context and prelude ready), so `execute` does not pay for
// isolate creation. Each pooled isolate is handed out once and disposed after its cell; the pool
// refills in the background and never makes `execute` wait. Sessions share the default pool
// unless given their own (`SessionRuntimeOptions.isolatePool`).
import { CodeCellError } from '../errors.js';
import { CellIsolate } from './cell-isolate.js';
import { preludeWarmed } from './sandbox-source.js';
import { isolateTeardownSettled, isolateThreadsUnwound } from './teardown.js';

/** Default number of warm isolates per memory limit: enough for the 2-core machines we run on. */
export const DEFAULT_ISOLATE_POOL_SIZE = 2;
/** Pools are kept for this many distinct memory limits (the least recently used is dropped). */
const MAX_POOLED_LIMITS = 4;
/**
 * Making an isolate (context and prelude included) holds the main thread for ~1.5–2 ms. Refilling
 * right after a take would land that in the middle of the taking cell's start; a short delay
 * lets the cell run first.
 */
const REFILL_DELAY_MS = 5;

/** Pools holding warm isolates, drained before a natural exit (see #keep). */
const livePools = new Set<IsolatePool>();
let exitHookInstalled = false;

/**
 * What a cell's isolate holds besides its heap limit (young generation, code, its context): an
 * idle cell that filled its 128 MiB heap keeps ~170 MB resident.
 */
export const ISOLATE_OVERHEAD_MB = 40;

const MiB = 1024 * 1024;

/** How many warm isolates a pool keeps, and how much memory its cells may hold at once. */
export interface IsolatePoolOptions {
  /** Warm isolates kept per memory limit (default 2; 0 disables warming). */
  size?: number;
  /**
   * MiB the isolates handed to cells may reserve at once: each reserves its `memoryMb` plus
   * ISOLATE_OVERHEAD_MB until it is disposed; past the budget a cell is refused with
   * ERR_LIMIT_EXCEEDED (codecell-host sizes it to its process's memory). Default: none.
   */
  memoryBudgetMb?: number;
}

function checkSize(size: unknown): number {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new CodeCellError('ERR_INVALID_REQUEST', 'isolate pool size must be an integer >= 0');
  }
  return size;
}

/**
 * Warm isolates (context and prelude ready) for cells to take; sessions share the process's
 * default pool unless given one.
 */
export class IsolatePool {
  #size: number;
  /** Ready isolates by memory limit, in least-recently-used order of the limits. */
  readonly #ready = new Map<number, CellIsolate[]>();
  readonly #creating = new Map<number, number>();
  readonly #budgetMb: number;
  /** MiB reserved by the isolates handed out and not yet disposed. */
  #reservedMb = 0;

  constructor(options: IsolatePoolOptions = {}) {
    this.#size = checkSize(options.size ?? DEFAULT_ISOLATE_POOL_SIZE);
    const budget = options.memoryBudgetMb ?? Number.POSITIVE_INFINITY;
    if (typeof budget !== 'number' || !(budget >= 1))
      throw new CodeCellError('ERR_INVALID_REQUEST', 'the memory budget must be a number of MiB >= 1');
    this.#budgetMb = budget;
  }

  /** MiB the cells' isolates reserve now, and the budget (Infinity: none). */
  get memory(): { reservedMb: number; budgetMb: number } {
    return { reservedMb: this.#reservedMb, budgetMb: this.#budgetMb };
  }

  /**
   * Throws ERR_LIMIT_EXCEEDED unless `bytes` more fit the memory budget now: what a cell holds
   * with no isolate (a paused cell's journal and code).
   */
  assertRoomForBytes(bytes: number): void {
    const mb = bytes / MiB;
    if (this.#reservedMb + mb <= this.#budgetMb) return;
    throw new CodeCellError(
      'ERR_LIMIT_EXCEEDED',
      `this host's cells hold ${Math.ceil(this.#reservedMb)} MiB of its ${this.#budgetMb} MiB memory budget; a ` +
        `paused cell's ${Math.ceil(mb)} MiB of journal does not fit: run it on another host, or when cells have ended`,
    );
  }

  /**
   * Reserves `bytes` of the budget for what a cell holds with no isolate (a paused cell's journal
   * and code), whether or not they fit: a cell that pauses here keeps them; new cells are refused
   * meanwhile. Returns the release.
   * @internal
   */
  reserveBytes(bytes: number): () => void {
    const mb = bytes / MiB;
    this.#reservedMb += mb;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#reservedMb -= mb;
    };
  }

  /** Throws ERR_LIMIT_EXCEEDED unless a cell of `memoryMb` fits the memory budget now. */
  assertRoomFor(memoryMb: number): void {
    const cost = memoryMb + ISOLATE_OVERHEAD_MB;
    if (this.#reservedMb + cost <= this.#budgetMb) return;
    throw new CodeCellError(
      'ERR_LIMIT_EXCEEDED',
      `this host's cells hold ${this.#reservedMb} MiB of its ${this.#budgetMb} MiB memory budget; a cell of ` +
        `memoryMb ${memoryMb} needs ${cost} MiB more: run it on another host, or when cells have ended`,
    );
  }

  get size(): number {
    return this.#size;
  }

  /** Warm isolates ready now, over all memory limits. */
  get warm(): number {
    let count = 0;
    for (const ready of this.#ready.values()) count += ready.length;
    return count;
  }

  /** Sets the number of warm isolates per memory limit (0 disables the pool). */
  setSize(size: number): void {
    this.#size = checkSize(size);
    for (const [memoryMb, ready] of this.#ready) {
      for (const isolate of ready.splice(size)) isolate.dispose();
      if (ready.length === 0 && size === 0) this.#ready.delete(memoryMb);
    }
  }

  /**
   * A pristine isolate: a warm one if there is one, else a new one. Refills in the background.
   * @internal
   */
  async take(memoryMb: number): Promise<CellIsolate> {
    this.assertRoomFor(memoryMb);
    const cost = memoryMb + ISOLATE_OVERHEAD_MB;
    this.#reservedMb += cost;
    const release = (): void => void (this.#reservedMb -= cost);
    const ready = this.#ready.get(memoryMb);
    const warm = ready?.pop();
    this.#touch(memoryMb);
    this.#refill(memoryMb);
    try {
      return (warm ?? (await CellIsolate.create({ memoryMb }))).claim(release);
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Disposes every warm isolate (the pool refills on its next use). */
  drain(): void {
    for (const ready of this.#ready.values()) for (const isolate of ready.splice(0)) isolate.dispose();
    this.#ready.clear();
    livePools.delete(this);
  }

  #touch(memoryMb: number): void {
    const ready = this.#ready.get(memoryMb) ?? [];
    this.#ready.delete(memoryMb);
    this.#ready.set(memoryMb, ready);
    while (this.#ready.size > MAX_POOLED_LIMITS) {
      const [oldest] = this.#ready.keys();
      if (oldest === undefined) break;
      for (const isolate of this.#ready.get(oldest) ?? []) isolate.dispose();
      this.#ready.delete(oldest);
    }
  }

  #refill(memoryMb: number): void {
    const creating = this.#creating.get(memoryMb) ?? 0;
    const missing = this.#size - (this.#ready.get(memoryMb)?.length ?? 0) - creating;
    for (let i = 0; i < missing; i++) {
      this.#creating.set(memoryMb, (this.#creating.get(memoryMb) ?? 0) + 1);
      // Off the current execute's path: start after it had its turn.
      setTimeout(() => {
        CellIsolate.create({ memoryMb })
          .then((isolate) => this.#keep(memoryMb, isolate))
          .catch(() => {
            // a warm isolate that failed to start is simply not pooled
          })
          .finally(() => this.#creating.set(memoryMb, (this.#creating.get(memoryMb) ?? 1) - 1));
      }, REFILL_DELAY_MS).unref();
    }
  }

  #keep(memoryMb: number, isolate: CellIsolate): void {
    const ready = this.#ready.get(memoryMb);
    if (ready === undefined || ready.length >= this.#size) {
      isolate.dispose();
      return;
    }
    ready.push(isolate);
    livePools.add(this);
    // Warm isolates left at exit would be torn down by isolated-vm after Node's own teardown
    // began, which can abort the process: dispose of them while the event loop still runs. The
    // hook is installed when a pool first holds an isolate, never at import.
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('beforeExit', drainLivePools);
    }
  }
}

function drainLivePools(): void {
  for (const pool of [...livePools]) pool.drain();
}

/** The pool sessions share unless given their own. */
export const defaultIsolatePool = new IsolatePool();

/**
 * Disposes every pool's warm isolates and resolves once isolate teardown has settled: call it
 * before an explicit `process.exit()` (a natural exit does the same through 'beforeExit').
 */
export async function settleIsolatesForExit(): Promise<void> {
  drainLivePools();
  await preludeWarmed();
  await isolateThreadsUnwound();
  await isolateTeardownSettled();
}
