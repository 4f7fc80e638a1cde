// The deferred wait (ADR 23): after a tool call, the sandbox's thread waits for the host where it
// would have gone idle. A call queues one microtask; when it runs, the cell has done what its turn
// held so far, and the thread asks the host (applySyncPromise) for its next delivery: a result
// that is ready, or none once the host's event loop has turned. A delivery that comes back enters
// the cell at once, in the same task, as it would have entered as a task of its own; one that
// comes later enters as a task, as before. The host keeps the order (src/isolate/cell-isolate.ts).

/** The host's wait (an isolated-vm Reference): the next delivery encoded, or '' for none. */
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

/**
 * A function that queues one wait after a call (more calls in the same turn share it) and, when
 * the wait brings a delivery, hands it to `take`. Encoded by the host (encodeDelivery): `s`, `1`
 * or `0` (ok), the error kind, NUL, the call id, NUL, the payload; `t` and a timer id; `w`.
 */
function codecellDeferredWaits(wait: HostWait, take: WaitedDelivery): () => void {
  let queued = false;
  const waitForHost = (): void => {
    queued = false;
    let got: unknown;
    try {
      got = wait.applySyncPromise(undefined, []);
    } catch {
      return; // the host let the isolate go (the cell ended): nothing is waited for
    }
    if (typeof got !== 'string' || got === '') return;
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
    queued = true;
    codecellApply(codecellThen, codecellResolved, [waitForHost]);
  };
}
