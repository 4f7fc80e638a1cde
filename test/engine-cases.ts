// What the engine adapters' server tests (test/servers/dbos.test.ts, restate.test.ts) share: the
// effects the workers' tools wrote (test/fixtures/engine-tools.ts), and the cell a worker is
// killed in the middle of.
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
