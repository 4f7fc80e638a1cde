// codecell/dbos against the real DBOS (its SDK, on a PostgreSQL server this file starts): a worker
// killed with -9 in the middle of a cell, and the next worker's DBOS runs the cell's workflow
// again. The effects file is the ground truth: each tool appends a line when it is called.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertMidCellEnd, effectsOf, MID_CELL_SOURCE, type Effect } from '../engine-cases.js';
import { waitFor } from '../helpers.js';
import { startPostgres } from '../postgres-server.js';

const WORKER = fileURLToPath(new URL('../fixtures/dbos-worker.js', import.meta.url));
const server = await startPostgres();
const skip = 'skip' in server ? server.skip : false;
if ('stop' in server) after(() => server.stop());

let databases = 0;
/** A DBOS system database of its own for one test, and an empty effects file. */
function place(t: TestContext): { url: string; effects: string } {
  if ('skip' in server) throw new Error(server.skip);
  const url = server.createDatabase(`dbos${++databases}`);
  const dir = mkdtempSync(join(tmpdir(), 'codecell-dbos-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const effects = join(dir, 'effects.jsonl');
  writeFileSync(effects, '');
  return { url, effects };
}

interface Worker {
  /** What it printed so far. */
  out(): string;
  /** Resolves with its exit code. */
  exited: Promise<number | null>;
  kill(): Promise<void>;
}

function worker(t: TestContext, ...args: string[]): Worker {
  const child = spawn(process.execPath, ['--no-node-snapshot', WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  t.after(() => void child.kill('SIGKILL'));
  return {
    out: () => out,
    exited,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The result line a worker printed (the cell workflow's result). */
function resultOf(out: string): { kind: string; items: { text: string }[]; inDoubt: unknown[]; error?: string } {
  const line = out.split('\n').find((row) => row.startsWith('result '));
  assert.ok(line !== undefined, `no result in:\n${out}`);
  return JSON.parse(line.slice('result '.length)) as ReturnType<typeof resultOf>;
}

/** Starts the cell in a worker, kills it with -9 once `tool` is under way, and lets a new worker finish it. */
async function killedMidCell(
  t: TestContext,
  source: string,
  tool: string,
): Promise<{ out: string; effects: Effect[] }> {
  const { url, effects } = place(t);
  const first = worker(t, url, effects, 'start', 'cell-1', source);
  const told = (): boolean => first.out().includes(`under way ${tool}`) || first.out().includes('result ');
  await waitFor(told, 60_000).catch(() => assert.fail(`the first worker never got to ${tool}:\n${first.out()}`));
  assert.ok(first.out().includes(`under way ${tool}`), first.out());
  await first.kill();
  const second = worker(t, url, effects, 'await', 'cell-1');
  assert.equal(await second.exited, 0, second.out());
  return { out: second.out(), effects: effectsOf(effects) };
}

describe('codecell/dbos: a worker killed with -9 mid-cell', { skip, timeout: 120_000 }, () => {
  test('an answered call is not made again, the one under way is in doubt, and the cell ends as it would have', async (t) => {
    const { out, effects } = await killedMidCell(t, MID_CELL_SOURCE, 'slow');
    const result = resultOf(out);
    assertMidCellEnd(result, effects, 'start', out);
  });

  test('an idempotent call under way is made again, with the same idempotency key', async (t) => {
    const { out, effects } = await killedMidCell(t, `text('hang ' + await tools.hang({ at: 1 }));`, 'hang');
    assert.deepEqual(
      effects.map((effect) => `${effect.tool} ${effect.mode}`),
      ['hang start', 'hang await'],
    );
    assert.equal(effects[0]?.key, effects[1]?.key);
    assert.match(effects[0]?.key ?? '', /^dbos:cell-1:1:tool-1$/);
    const result = resultOf(out);
    assert.deepEqual(result.items, [{ type: 'text', text: 'hang answered' }]);
    assert.deepEqual(result.inDoubt, []);
  });

  test('an approval waits across a worker restart: the cell pauses again, takes the answer, and goes on', async (t) => {
    const { url, effects } = place(t);
    const first = worker(t, url, effects, 'start', 'cell-3', `text(await tools.deploy({ env: 'prod' }));`);
    const paused = (): boolean => first.out().includes('step codecell.call tools.deploy');
    await waitFor(paused, 60_000).catch(() => assert.fail(`the cell never paused:\n${first.out()}`));
    await first.kill();
    // The next worker's DBOS runs the workflow again: it waits for the answer, which this worker sends.
    const second = worker(t, url, effects, 'approve', 'cell-3', 'tool-1');
    assert.equal(await second.exited, 0, second.out());
    const result = resultOf(second.out());
    assert.deepEqual(result.items, [{ type: 'text', text: 'deployed to prod' }]);
    assert.deepEqual(
      effectsOf(effects).map((effect) => `${effect.tool} ${effect.mode} approved ${String(effect.approved)}`),
      ['deploy start approved false', 'deploy approve approved true'],
    );
  });

  test("DBOS's own retries: a failed call of an idempotent tool is tried again by its step", async (t) => {
    const { url, effects } = place(t);
    const only = worker(t, url, effects, 'start', 'cell-2', `text(await tools.flaky({}));`);
    assert.equal(await only.exited, 0, only.out());
    assert.deepEqual(resultOf(only.out()).items, [{ type: 'text', text: 'ok after 3' }]);
    assert.equal(effectsOf(effects).length, 3);
  });
});

test('examples/dbos.mjs runs as printed in docs/dbos.md', { skip, timeout: 120_000 }, () => {
  if ('skip' in server) return;
  const example = readFileSync(new URL('../../../examples/dbos.mjs', import.meta.url), 'utf8');
  const page = readFileSync(new URL('../../../docs/dbos.md', import.meta.url), 'utf8');
  assert.ok(page.includes(example), 'docs/dbos.md shows examples/dbos.mjs as it is');
  const { status, stdout, stderr } = spawnSync(process.execPath, ['--no-node-snapshot', 'examples/dbos.mjs'], {
    cwd: new URL('../../..', import.meta.url),
    env: { ...process.env, DBOS_SYSTEM_DATABASE_URL: server.createDatabase('example') },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(status, 0, stderr);
  assert.equal(stdout, '42 done\n');
});
