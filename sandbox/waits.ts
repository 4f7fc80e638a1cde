// The deferred wait (ADR 23): after a tool call, the sandbox's thread waits for the host where it
// would have gone idle. A call asks first (a word in memory the two share, the box) and queues
// one microtask; when it runs, the cell has done what its turn held so far, and the thread sleeps
// on the box (Atomics.wait) until the host answers: with a delivery written into the box (an
// instant tool's result is ready by then), or with none once its event loop turned. A delivery
// that comes back enters the cell at once, in the same task, as it would have entered as a task
// of its own; one that comes later enters as a task, as before. The host keeps the order
// (src/isolate/sandbox-waits.ts). Each ask is numbered in the box, and the journal records which
// ask took which delivery: a run again from it answers each ask as the first run's was. No thread
// hop brings the result: the host wakes this thread as a futex, not through a task of
// isolated-vm's. Where results come later than that (a tool that takes time, a host whose agent is
// a process away), a wait only costs: after one that brought nothing, the next calls go without.

/** A delivery as the sandbox takes it (one of TO_SANDBOX's run-time kinds). */
interface WaitedDelivery {
  settle(callId: string, ok: boolean, payload: string, errorKind: string): void;
  timer(id: number): void;
  watchRejections(): void;
  /** The asks that took a delivery in the run the journal records, in order (a replay's). */
  heldAsks(): readonly number[];
}

// The box: Int32 words (the state, the answer's length, the ask's number, the waits answered
// while the thread read the box), then the answer's UTF-16 code units.
// The states, as src/isolate/sandbox-waits.ts has them: the sandbox asks (IDLE → ASKING) and
// takes the answer (FULL or EMPTY → IDLE); the host claims an ask (ASKING → WRITING), then fills
// it (→ FULL), or answers none (ASKING → EMPTY); a sandbox that waited its bound out takes its
// ask back (ASKING → IDLE), and what comes later enters as a task.
const CODECELL_BOX_IDLE = 0;
const CODECELL_BOX_ASKING = 1;
const CODECELL_BOX_WRITING = 2;
const CODECELL_BOX_FULL = 3;
const CODECELL_BOX_STATE = 0;
const CODECELL_BOX_LENGTH = 1;
const CODECELL_BOX_ASK = 2;
/** The waits answered while the thread read the box (its count, for the host's tests). */
const CODECELL_BOX_READ = 3;
/** Where the answer's code units begin (bytes). */
const CODECELL_BOX_UNITS_AT = 16;

/**
 * How long the thread sleeps at most for an answer (ms). The host answers by its event loop's next
 * turn; one held up longer (a delegate's long synchronous work) lets the thread go on, and its
 * delivery enters as a task.
 */
const CODECELL_WAIT_BOUND_MS = 50;

/**
 * How long the thread sleeps for an ask whose delivery the journal records (a replay's): the host
 * answers it once the call the delivery settles is made, a message or two later. A thread still
 * unanswered after this goes on, and the replay finds it diverged.
 */
const CODECELL_HELD_BOUND_MS = 10_000;

/**
 * How long the thread reads the box for its answer before it sleeps: until the clock's millisecond
 * turns (Date.now's, the finest an isolate has), under 1 ms. An instant tool's result is back in a
 * few tens of microseconds; a thread put to sleep for it costs more to wake, most of all on a
 * virtual machine whose idle CPU the hypervisor takes back (there, 3–4× as long a round trip: ADR
 * 23). A wait whose reads ran out before the answer makes the next waits sleep at once, 1, 2, 4 …
 * up to 64 of them, so a host busy elsewhere (a long synchronous delegate) is not raced by its
 * cells' threads; and no wait reads while more cells are in use than the CPUs beside the host's
 * main thread (its word SPIN). The clock is read once every CODECELL_READS_PER_CLOCK reads.
 */
const CODECELL_READS_PER_CLOCK = 64;
const CODECELL_SLEEPS_AFTER_READS_MAX = 64;

// Captured before cell code runs (and before the cell's global loses Atomics), so a cell that
// replaces them only breaks itself.
const codecellSlice = String.prototype.slice;
const codecellIndexOf = String.prototype.indexOf;
const codecellFromCharCode = String.fromCharCode;
const codecellSubarray = Uint16Array.prototype.subarray;
const codecellThen = Promise.prototype.then;
const codecellResolved = Promise.resolve();
const codecellAtomicsStore = Atomics.store;
const codecellAtomicsCompareExchange = Atomics.compareExchange;
const codecellDateNow = Date.now;

/** After waits that brought nothing, at most this many calls go without one (then one tries again). */
const CODECELL_CALLS_UNWAITED = 16;

/**
 * A function to call before each tool call is sent: it asks for one wait (more calls in the same
 * turn share it) and, when the wait brings a delivery, hands it to `take`. The host encodes it
 * (encodeDelivery): `s`, `1` or `0` (ok), the error kind, NUL, the call id, NUL, the payload; `t`
 * and a timer id; `w`. No box (the warm-up's isolate): no waits.
 */
function codecellDeferredWaits(box: SharedArrayBuffer | null, hostWords: Int32Array, take: WaitedDelivery): () => void {
  if (box === null) return () => {};
  const words = new Int32Array(box, 0, 4);
  const units = new Uint16Array(box, CODECELL_BOX_UNITS_AT);
  let queued = false;
  /** Asks made so far (the number of the last), and how far the held ones were passed. */
  let asks = 0;
  let held = 0;
  /** Calls to make without a wait, and the waits in a row that brought nothing (see below). */
  let skipping = 0;
  let misses = 0;
  /** Waits to sleep at once, and the reads of the box in a row that ran out (codecellSpin). */
  let sleeping = 0;
  let late = 0;
  /** Reads the box before the wait sleeps, unless the last reads ran out or too many cells are in use. */
  const readBox = (): void => {
    if (sleeping > 0) return void sleeping--;
    // More cells in use than CPUs beside the main thread: they keep it busy, and the CPUs awake.
    if (codecellAtomicsLoad(hostWords, CODECELL_HOST_SPIN) === 0) return;
    if (!codecellSpin(words)) return void (sleeping = late < 6 ? 1 << late++ : CODECELL_SLEEPS_AFTER_READS_MAX);
    late = 0;
    codecellAtomicsStore(words, CODECELL_BOX_READ, words[CODECELL_BOX_READ]! + 1);
  };
  const waitForHost = (): void => {
    queued = false;
    const heldAsks = take.heldAsks();
    while (held < heldAsks.length && (heldAsks[held] as number) < asks) held++;
    const bound = heldAsks[held] === asks ? CODECELL_HELD_BOUND_MS : CODECELL_WAIT_BOUND_MS;
    readBox();
    let got: string;
    try {
      got = codecellAnswer(words, units, bound);
    } catch {
      return; // the host let the isolate go (the cell ended): nothing is waited for
    }
    if (got === '') {
      // A result arrives late now and then (the host's loop turned before it); where none is
      // ever ready (a slow tool, an agent a process away) waits go, up to 16 calls at a time.
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
    // Asked before the call is sent: the host may have the result before this thread sleeps.
    codecellAtomicsStore(words, CODECELL_BOX_ASK, ++asks);
    codecellAtomicsStore(words, CODECELL_BOX_STATE, CODECELL_BOX_ASKING);
    codecellApply(codecellThen, codecellResolved, [waitForHost]);
  };
}

/**
 * Reads the box while the host has not answered the ask (or is still writing its answer), until
 * the clock's millisecond turns: true when the host answered meanwhile.
 */
function codecellSpin(words: Int32Array): boolean {
  const began = codecellDateNow();
  let state = codecellAtomicsLoad(words, CODECELL_BOX_STATE);
  for (let reads = 1; state === CODECELL_BOX_ASKING || state === CODECELL_BOX_WRITING; reads++) {
    if (reads % CODECELL_READS_PER_CLOCK === 0 && codecellDateNow() !== began) break;
    state = codecellAtomicsLoad(words, CODECELL_BOX_STATE);
  }
  return state !== CODECELL_BOX_ASKING;
}

/** Sleeps until the host answers the ask: the delivery it wrote, or '' (none, or none in time). */
function codecellAnswer(words: Int32Array, units: Uint16Array, boundMs: number): string {
  let state = codecellAtomicsLoad(words, CODECELL_BOX_STATE);
  if (state === CODECELL_BOX_ASKING) {
    codecellAtomicsWait(words, CODECELL_BOX_STATE, CODECELL_BOX_ASKING, boundMs);
    // Not answered in time: the ask is taken back, unless the host claimed it meanwhile.
    state = codecellAtomicsCompareExchange(words, CODECELL_BOX_STATE, CODECELL_BOX_ASKING, CODECELL_BOX_IDLE);
    if (state === CODECELL_BOX_ASKING) return '';
  }
  // A claimed ask is being written: the host's next steps, a few microseconds.
  while (state === CODECELL_BOX_WRITING) {
    codecellAtomicsWait(words, CODECELL_BOX_STATE, CODECELL_BOX_WRITING, CODECELL_WAIT_BOUND_MS);
    state = codecellAtomicsLoad(words, CODECELL_BOX_STATE);
  }
  const length = state === CODECELL_BOX_FULL ? codecellAtomicsLoad(words, CODECELL_BOX_LENGTH) : 0;
  const got =
    length === 0
      ? ''
      : (codecellApply(
          codecellFromCharCode,
          undefined,
          codecellApply(codecellSubarray, units, [0, length]) as Uint16Array,
        ) as string);
  codecellAtomicsStore(words, CODECELL_BOX_STATE, CODECELL_BOX_IDLE);
  return got;
}
