// Memory every sandbox of the process shares with the host: Int32 words the host writes and the
// sandboxes read (sandbox/prelude.ts, sandbox/waits.ts). One buffer for the process, copied into
// each isolate as it is set up.
import { availableParallelism } from 'node:os';

/** The words' places. TURNS: the event loop's turns that followed a sandbox's message or ask (codecellPaced). */
export const TURNS = 0;
/** SPIN: 1 while so few cells are in use that each may read its box before it sleeps (codecellSpin). */
export const SPIN = 1;
/**
 * SENT: the messages every sandbox sent, counted by the sandboxes; SENT_AT_TURN: that count when
 * the host's event loop last turned. Their difference paces every sandbox (codecellPaced).
 */
export const SENT = 2;
export const SENT_AT_TURN = 3;

export const hostWords = new Int32Array(new SharedArrayBuffer(16));

/**
 * The cells that may be in use at once and still read their boxes (each keeps a CPU busy while it
 * does): every CPU but the one the host's main thread needs, and at least one. More cells than
 * that keep the host's main thread busy, and their reads would run out while it serves the others.
 */
const SPINNERS = Math.max(1, availableParallelism() - 1);

/** The cells in use in the process (isolates handed to cells, not yet disposed) changed. */
export function cellsInUse(count: number): void {
  Atomics.store(hostWords, SPIN, count <= SPINNERS ? 1 : 0);
}
cellsInUse(0);

let turnArmed = false;

/**
 * A sandbox sent a message, or asked for a turn: once the loop turned, the messages are counted
 * from there (SENT_AT_TURN) and the turn is counted (TURNS, waking every sandbox that sleeps on it).
 */
export function armTurn(): void {
  if (turnArmed) return;
  turnArmed = true;
  setImmediate(() => {
    turnArmed = false;
    Atomics.store(hostWords, SENT_AT_TURN, Atomics.load(hostWords, SENT));
    Atomics.add(hostWords, TURNS, 1);
    Atomics.notify(hostWords, TURNS);
  });
}
