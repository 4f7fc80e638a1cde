// The deferred wait (ADR 23): after a tool call, the sandbox's thread waits for the host where it
// would have gone idle. A call queues one microtask; when it runs, the cell has done what its turn
// held so far, and the thread asks the host (applySyncPromise) for a delivery made meanwhile: a
// result that is ready, or none (the host answers at once). A delivery that comes back enters
// the cell at once, in the same task, as it would have entered as a task of its own; one that
// comes later enters as a task, as before. The host keeps the order (src/isolate/sandbox-waits.ts).
// Where results come later than that (a tool that takes time, a host whose agent is a process
// away), a wait only costs: after one that brought nothing, the next calls go without.

/** The host's wait (an isolated-vm Reference): a delivery held for it, encoded, or '' for none. */
interface HostWait {
  applySyncPromise(receiver: undefined, args: []): unknown;
}

/** A delivery as the sandbox takes it (one of TO_SANDBOX's run-time kinds). */
interface WaitedDelivery {
  settle(callId: string, ok: boolean, payload: string, errorKind: string): void;
  timer(id: number): void;
  watchRejections(): void;
}

// Captured before cell code runs, so a cell that replaces them only breaks itself.
const codecellSlice = String.prototype.slice;
const codecellIndexOf = String.prototype.indexOf;
const codecellThen = Promise.prototype.then;
const codecellResolved = Promise.resolve();

/** After waits that brought nothing, at most this many calls go without one (then one tries again). */
const CODECELL_CALLS_UNWAITED = 16;

/**
 * A function that queues one wait after a call (more calls in the same turn share it) and, when
 * the wait brings a delivery, hands it to `take`. Encoded by the host (encodeDelivery): `s`, `1`
 * or `0` (ok), the error kind, NUL, the call id, NUL, the payload; `t` and a timer id; `w`.
 */
function codecellDeferredWaits(wait: HostWait, take: WaitedDelivery): () => void {
  let queued = false;
  /** Calls to make without a wait, and the waits in a row that brought nothing (see below). */
  let skipping = 0;
  let misses = 0;
  const waitForHost = (): void => {
    queued = false;
    let got: unknown;
    try {
      got = wait.applySyncPromise(undefined, []);
    } catch {
      return; // the host let the isolate go (the cell ended): nothing is waited for
    }
    if (typeof got !== 'string' || got === '') {
      // A result arrives late now and then (the host took the call and the wait in one go); where
      // none is ever ready (a slow tool, an agent a process away) waits go, up to 16 calls at a time.
      skipping = misses >= 4 ? CODECELL_CALLS_UNWAITED : 1 << misses;
      misses++;
      return;
    }
    misses = 0;
    const kind = got[0];
    if (kind === 't') return take.timer(Number(codecellApply(codecellSlice, got, [1])));
    if (kind === 'w') return take.watchRejections();
    if (kind !== 's') return;
    const idAt = codecellApply(codecellIndexOf, got, ['\u0000', 2]) as number;
    const payloadAt = codecellApply(codecellIndexOf, got, ['\u0000', idAt + 1]) as number;
    take.settle(
      codecellApply(codecellSlice, got, [idAt + 1, payloadAt]) as string,
      got[1] === '1',
      codecellApply(codecellSlice, got, [payloadAt + 1]) as string,
      codecellApply(codecellSlice, got, [2, idAt]) as string,
    );
  };
  return () => {
    if (queued) return;
    if (skipping > 0) return void skipping--;
    queued = true;
    codecellApply(codecellThen, codecellResolved, [waitForHost]);
  };
}
