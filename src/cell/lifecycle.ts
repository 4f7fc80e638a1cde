// A cell's lifecycle as one discriminated union and the one table of the moves between phases:
//
//   running ──▶ finishing ──▶ ended ──▶ closing ──▶ closed
//      └──────▶ terminating ──▶ ┘ ▲
//                finishing ──────┘ (a limit or terminate() interrupts finishing)
//
// `transition` only accepts a move the table lists (a compile error otherwise), and checks it
// again at run time.
import type { CellEvent, TerminalCellEvent, TerminationReason } from '../types.js';
import type { Deadline } from './callbacks.js';

export const TRANSITIONS = {
  running: ['finishing', 'terminating'],
  finishing: ['terminating', 'ended'],
  terminating: ['ended'],
  ended: ['closing'],
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
  /** The module settled: dangling tool calls are cancelled, notifications drain (bounded). */
  | { readonly phase: 'finishing'; readonly error: string | undefined; readonly drainStop: AbortController }
  /** The isolate is stopped; callbacks are cancelled under `deadline`. */
  | { readonly phase: 'terminating'; readonly reason: TerminationReason; readonly deadline: Deadline }
  /** The terminal event waits for its observer; `settled` is what must end before closing. */
  | { readonly phase: 'ended'; readonly terminal: TerminalCellEvent; readonly settled: Promise<void> }
  /** The terminal event was delivered (or dropped): the cell waits for its last work, then closes. */
  | { readonly phase: 'closing'; readonly delivered: CellEvent }
  | { readonly phase: 'closed'; readonly delivered: CellEvent };

export type StateOf<P extends Phase> = Extract<CellState, { readonly phase: P }>;

export function canTransition(from: Phase, to: Phase): boolean {
  return (TRANSITIONS[from] as readonly Phase[]).includes(to);
}

/** The state after a move the table allows; an illegal move does not compile (and throws). */
export function transition<F extends Phase, T extends NextPhase<F>>(from: StateOf<F>, to: StateOf<T>): StateOf<T> {
  const [fromPhase, toPhase] = [(from as CellState).phase, (to as CellState).phase];
  if (!canTransition(fromPhase, toPhase)) throw new Error(`codecell: illegal cell transition ${fromPhase} → ${toPhase}`);
  return to;
}

/** True while the cell's isolate may still run and its callbacks are live. */
export function isLive(state: CellState): state is StateOf<'running'> | StateOf<'finishing'> {
  return state.phase === 'running' || state.phase === 'finishing';
}

/** True until the cell has a terminal event. */
export function isUnended(state: CellState): state is StateOf<'running' | 'finishing' | 'terminating'> {
  return isLive(state) || state.phase === 'terminating';
}
