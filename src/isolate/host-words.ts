// Memory every sandbox of the process shares with the host: Int32 words the host writes and the
// sandboxes read (sandbox/prelude.ts, sandbox/waits.ts). One buffer for the process, copied into
// each isolate as it is set up.
import { availableParallelism } from 'node:os';

/** The words' places. TURNS: the event loop's turns, counted when a sandbox asks (codecellPaced). */
export const TURNS = 0;
/** SPIN: 1 while so few cells execute that each may read its box before it sleeps (codecellSpin). */
export const SPIN = 1;

export const hostWords = new Int32Array(new SharedArrayBuffer(8));

/**
 * The cells that may execute at once and still read their boxes (each keeps a CPU busy while it
 * does): every CPU but the one the host's main thread needs, and at least one.
 */
const SPINNERS = Math.max(1, availableParallelism() - 1);

/** The cells executing in the process (holding a RunGate slot) changed: whether they may spin. */
export function executingCells(count: number): void {
  Atomics.store(hostWords, SPIN, count <= SPINNERS ? 1 : 0);
}
executingCells(0);
