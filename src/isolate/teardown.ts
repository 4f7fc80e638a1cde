// The process-wide grace after isolate disposals (see holdForTeardown).

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
