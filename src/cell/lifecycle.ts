// A cell's lifecycle as one discriminated union and the one table of the moves between phases:
//
//   running ──▶ settling ──▶ finishing ──▶ closing ──▶ closed
//    │  ▲           │            │            ▲
//    │  │           └────────────┴─▶ terminating
//    ▼  │                                ▲
//   interrupted ─────────────────────────┘
//
// `settling`: the module settled and the microtasks it queued are drained; `finishing`: dangling
// tool calls are cancelled and notifications delivered; `closing`: the outcome is committed (the
// terminal event is with its observer, or buffered for the next one) and the cell winds down;
// `interrupted`: a tool call paused it (CellInterrupt): no isolate, its journal kept, until it runs
// again from the journal (resumeCell) or is terminated.
// `transition` only accepts a move the table lists (a compile error otherwise), and checks it
// again at run time.
import type { CellEvent, TerminationReason } from '../types.js';
import type { Deadline } from './deadline.js';

export const TRANSITIONS = {
  running: ['settling', 'terminating', 'interrupted'],
  interrupted: ['running', 'terminating'],
  settling: ['finishing', 'terminating'],
  finishing: ['terminating', 'closing'],
  terminating: ['closing'],
  closing: ['closed'],
  closed: [],
} as const;

export type Phase = keyof typeof TRANSITIONS;
type Next<P extends Phase> = (typeof TRANSITIONS)[P][number];
/** The phases that may move to T. */
type Sources<T extends Phase> = { [P in Phase]: T extends Next<P> ? P : never }[Phase];
/** Where every phase of P may move (for a union, only the moves all of its phases allow). */
export type NextPhase<P extends Phase> = { [T in Phase]: [P] extends [Sources<T>] ? T : never }[Phase];

export type CellState =
  /** The module runs, or waits on tool calls and timers. */
  | { readonly phase: 'running' }
  /** The module settled (with `error` if it threw); `dangling`: the calls it had not received. */
  | { readonly phase: 'settling'; readonly error: string | undefined; readonly dangling: readonly string[] }
  /** Dangling tool calls are cancelled, notifications drain (bounded by completionDrainMs). */
  | { readonly phase: 'finishing'; readonly error: string | undefined; readonly drainStop: AbortController }
  /** Paused by the CellInterrupt of `callId` (its isolate freed); `event` says so to observers. */
  | { readonly phase: 'interrupted'; readonly callId: string; readonly event: CellEvent }
  /** The isolate is stopped; callbacks are cancelled under `deadline`. */
  | { readonly phase: 'terminating'; readonly reason: TerminationReason; readonly deadline: Deadline }
  /** The outcome `event` is committed; the cell waits for `settled` and its isolate, then closes. */
  | { readonly phase: 'closing'; readonly event: CellEvent; readonly settled: Promise<void> }
  | { readonly phase: 'closed'; readonly event: CellEvent };

export type StateOf<P extends Phase> = Extract<CellState, { readonly phase: P }>;

export function canTransition(from: Phase, to: Phase): boolean {
  return (TRANSITIONS[from] as readonly Phase[]).includes(to);
}

/** The state after a move the table allows; an illegal move does not compile (and throws). */
export function transition<F extends Phase, T extends NextPhase<F>>(from: StateOf<F>, to: StateOf<T>): StateOf<T> {
  const [fromPhase, toPhase] = [(from as CellState).phase, (to as CellState).phase];
  if (!canTransition(fromPhase, toPhase))
    throw new Error(`codecell: illegal cell transition ${fromPhase} → ${toPhase}`);
  return to;
}

/** True while the cell's callbacks are live (and its isolate may run, unless it is interrupted). */
export function isLive(state: CellState): state is StateOf<'running' | 'settling' | 'finishing' | 'interrupted'> {
  return (
    state.phase === 'running' ||
    state.phase === 'settling' ||
    state.phase === 'finishing' ||
    state.phase === 'interrupted'
  );
}

/** True until the cell's outcome is committed. */
export function isUnended(
  state: CellState,
): state is StateOf<'running' | 'settling' | 'finishing' | 'interrupted' | 'terminating'> {
  return isLive(state) || state.phase === 'terminating';
}

/** True while the sandbox's messages count: the module runs, or the microtasks it queued drain. */
export function isSpeaking(state: CellState): state is StateOf<'running' | 'settling'> {
  return state.phase === 'running' || state.phase === 'settling';
}
