// The process-wide grace after isolate disposals (see holdForTeardown), the count of isolates
// in use and disposed, and the disposal itself.
import { cellsInUse } from './host-words.js';
import { stageClock, stageDone } from './stages.js';

let [isolatesInUse, isolatesDisposed] = [0, 0];

/** Isolates handed to cells and not yet disposed (pooled ones excluded): for leak checks. */
export function isolatesInUseCount(): number {
  return isolatesInUse;
}

/** Isolates disposed since the process started (a long-lived host collects garbage by it). */
export function isolatesDisposedCount(): number {
  return isolatesDisposed;
}

/** An isolate was handed to a cell. */
export function countClaimed(): void {
  cellsInUse(++isolatesInUse);
}

/** An isolate was disposed (`claimed`: it had been handed to a cell). */
export function countDisposed(claimed: boolean): void {
  if (claimed) cellsInUse(--isolatesInUse);
  isolatesDisposed++;
}

/**
 * Releases every handle of an isolate, then disposes of it: isolated-vm frees a disposed
 * isolate's memory only once no handle of it is left, and Node's heap may take thousands of cells
 * to collect them (a long-lived host's RSS grew ~22 KiB per cell while it waited).
 */
export function releaseAndDispose(
  isolate: { dispose(): void },
  handles: readonly ({ release(): void } | undefined)[],
): void {
  const clock = stageClock();
  for (const handle of handles) {
    try {
      handle?.release();
    } catch {
      // the isolate is gone already
    }
  }
  try {
    isolate.dispose();
  } catch {
    // already disposed by isolated-vm itself (memory limit)
  }
  stageDone('dispose', clock);
  holdForTeardown();
}

/**
 * isolated-vm tears a disposed isolate down on its own thread, and releasing the handles it held
 * posts work back to the main thread; a process that exits meanwhile can abort inside
 * isolated-vm ("environment != nullptr"). Each disposal keeps the event loop alive a while longer,
 * so a natural exit waits for the teardown, and `isolateTeardownSettled()` lets an explicit
 * `process.exit()` wait too.
 */
const TEARDOWN_GRACE_MS = 250;
let teardownGrace: ReturnType<typeof setTimeout> | undefined;
const teardownWaiters: (() => void)[] = [];

export function holdForTeardown(): void {
  clearTimeout(teardownGrace);
  teardownGrace = setTimeout(() => {
    teardownGrace = undefined;
    for (const wake of teardownWaiters.splice(0)) wake();
  }, TEARDOWN_GRACE_MS);
}

/** Resolves once no isolate was disposed for a moment (call before `process.exit()`). */
export function isolateTeardownSettled(): Promise<void> {
  if (teardownGrace === undefined) return Promise.resolve();
  return new Promise((resolve) => teardownWaiters.push(resolve));
}

/**
 * Threads of disposed isolates that were still running (a long built-in such as a huge sort
 * cannot be interrupted). A process must not exit before they unwound: isolated-vm can crash.
 */
const unwinding = new Set<Promise<unknown>>();

export function unwindingThread(done: Promise<unknown>): void {
  unwinding.add(done);
  void done.finally(() => unwinding.delete(done));
}

/** Resolves once every disposed isolate's thread unwound, or after `boundMs`. */
export async function isolateThreadsUnwound(boundMs = 10_000): Promise<void> {
  if (unwinding.size === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, boundMs);
  });
  await Promise.race([Promise.all(unwinding), bound]);
  clearTimeout(timer);
}
