import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Deadline } from '../src/cell/deadline.js';
import {
  canTransition,
  isLive,
  isUnended,
  transition,
  TRANSITIONS,
  type CellState,
  type Phase,
} from '../src/cell/lifecycle.js';
import type { CellEvent } from '../src/types.js';

const event: CellEvent = { kind: 'completed', cellId: '1', items: [] };
const deadline = new Deadline(0);
/** One state of every phase, as the cell builds them. */
const states: Record<Phase, CellState> = {
  running: { phase: 'running' },
  interrupted: { phase: 'interrupted', callId: 'tool-1', event },
  settling: { phase: 'settling', error: undefined, dangling: [] },
  finishing: { phase: 'finishing', error: undefined, drainStop: new AbortController() },
  terminating: { phase: 'terminating', reason: 'requested', deadline },
  closing: { phase: 'closing', event, settled: Promise.resolve() },
  closed: { phase: 'closed', event },
};
const phases = Object.keys(TRANSITIONS) as Phase[];
const allowed: [Phase, Phase][] = [
  ['running', 'settling'],
  ['running', 'terminating'],
  ['running', 'interrupted'],
  ['interrupted', 'running'],
  ['interrupted', 'terminating'],
  ['settling', 'finishing'],
  ['settling', 'terminating'],
  ['finishing', 'terminating'],
  ['finishing', 'closing'],
  ['terminating', 'closing'],
  ['closing', 'closed'],
];

test('the transition table allows exactly the lifecycle moves, and transition() refuses every other pair', () => {
  for (const from of phases) {
    for (const to of phases) {
      const legal = allowed.some(([a, b]) => a === from && b === to);
      assert.equal(canTransition(from, to), legal, `${from} → ${to}`);
      // Untyped callers (the test walks every pair) are checked at run time too.
      const move = (): unknown => (transition as (a: CellState, b: CellState) => CellState)(states[from], states[to]);
      if (legal) assert.equal(move(), states[to]);
      else assert.throws(move, { message: `codecell: illegal cell transition ${from} → ${to}` });
    }
  }
});

test('every phase but closed leads on, and closed is reachable from running', () => {
  const reachable = new Set<Phase>(['running']);
  for (let grew = true; grew;) {
    grew = false;
    for (const from of [...reachable]) {
      for (const to of TRANSITIONS[from]) if (!reachable.has(to)) grew = reachable.add(to) !== undefined;
    }
  }
  assert.deepEqual([...reachable].sort(), [...phases].sort());
  for (const phase of phases) assert.equal(TRANSITIONS[phase].length === 0, phase === 'closed', phase);
});

test('live means the callbacks are live; unended means the outcome is not committed yet', () => {
  assert.deepEqual(
    phases.filter((phase) => isLive(states[phase])),
    ['running', 'interrupted', 'settling', 'finishing'],
  );
  assert.deepEqual(
    phases.filter((phase) => isUnended(states[phase])),
    ['running', 'interrupted', 'settling', 'finishing', 'terminating'],
  );
});

test('an illegal move does not compile', () => {
  const running = { phase: 'running' } as const;
  // @ts-expect-error running cannot go straight to closing
  assert.throws(() => transition(running, states.closing as Extract<CellState, { phase: 'closing' }>));
  // @ts-expect-error closed is the end
  assert.throws(() => transition({ phase: 'closed', event } as const, running));
  // For a state that may be one of several phases, only the moves all of them allow compile.
  const live = states.running as Extract<CellState, { phase: 'running' | 'finishing' }>;
  const finishing = states.finishing as Extract<CellState, { phase: 'finishing' }>;
  assert.equal(
    transition(live, states.terminating as Extract<CellState, { phase: 'terminating' }>).phase,
    'terminating',
  );
  // @ts-expect-error neither running nor finishing may move to finishing
  assert.throws(() => transition(live, finishing));
});
