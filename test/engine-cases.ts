// What the engine adapters' server tests (test/servers/dbos, restate, workflow) share: the
// effects the workers' tools wrote (test/fixtures/engine-tools.ts), and the cell a worker is
// killed in the middle of.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

/** One call as a tool saw it: one line of the effects file. */
export interface Effect {
  tool: string;
  key: string;
  input: Record<string, unknown>;
  mode: string;
  approved: boolean;
}

export const effectsOf = (file: string): Effect[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Effect);

/**
 * A charge (answered before the kill), two lookups in parallel (idempotent), then `slow`, under way
 * when the worker is killed; it prints the random number and the clock it read.
 */
export const MID_CELL_SOURCE = `const r = Math.random();
const charged = await tools.charge({ n: 1, r, t: Date.now() });
text('charged ' + charged.id + ' ' + r);
const found = await Promise.all([tools.lookup({ q: 'x' }), tools.lookup({ q: 'y' })]);
text(found.join(', '));
try { await tools.slow({}); text('slow answered'); } catch (error) { text(error.message); }
text('at ' + Date.now());`;

/**
 * How a MID_CELL_SOURCE cell killed at `slow` must end on every engine: each call took effect once,
 * in the first worker (started in `firstMode`), the second read them back; the cell completed with
 * the same random number and clock, and `slow` in doubt.
 */
export function assertMidCellEnd(
  result: { kind: string; items: { text: string }[]; inDoubt: unknown[] },
  effects: Effect[],
  firstMode: string,
  context: string,
): void {
  assert.deepEqual(
    effects.map((effect) => `${effect.tool} ${effect.mode}`),
    ['charge', 'lookup', 'lookup', 'slow'].map((tool) => `${tool} ${firstMode}`),
  );
  assert.equal(result.kind, 'completed', context);
  const r = String(effects[0]?.input.r);
  assert.deepEqual(
    result.items.map((item) => item.text),
    [
      `charged 1 ${r}`, // the same random number: the run again is the same run
      'found x, found y',
      'tools.slow is in doubt: it was under way when a worker stopped, and it may or may not have taken effect',
      `at ${String(effects[0]?.input.t)}`, // and the same clock, read in the first worker
    ],
  );
  assert.deepEqual(result.inDoubt, [{ callId: 'tool-4', tool: 'tools.slow' }]);
}
