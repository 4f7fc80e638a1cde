// codecell/restate against the real Restate server (the npm package's binary, started here) and
// SDK: a worker killed with -9 in the middle of a cell, and Restate runs the cell's workflow again
// on the next worker, listening at the same address. The effects file is the ground truth: each
// tool appends a line when it is called.
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
import { freePort } from '../postgres-server.js';
import { startRestate } from '../restate-server.js';

const WORKER = fileURLToPath(new URL('../fixtures/restate-worker.js', import.meta.url));
const server = await startRestate();
const skip = 'skip' in server ? server.skip : false;
if ('stop' in server) after(() => server.stop());

interface Worker {
  /** What it printed so far. */
  out(): string;
  kill(): Promise<void>;
}

/** A worker serving the cell workflow at `port`; registered with the server the first time. */
async function worker(t: TestContext, port: number, effects: string, mode: string): Promise<Worker> {
  if ('skip' in server) throw new Error(server.skip);
  const child = spawn(process.execPath, ['--no-node-snapshot', WORKER, String(port), effects, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = once(child, 'exit');
  t.after(() => void child.kill('SIGKILL'));
  await waitFor(() => out.includes('listening\n') || child.exitCode !== null, 30_000);
  assert.ok(out.includes('listening\n'), out);
  if (mode === 'first') await server.register(`http://127.0.0.1:${port}`);
  return {
    out: () => out,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

function effectsFile(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'codecell-restate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const effects = join(dir, 'effects.jsonl');
  writeFileSync(effects, '');
  return effects;
}

interface CellResult {
  kind: string;
  items: { text: string }[];
  inDoubt: unknown[];
  error?: string;
}

/** Starts the cell workflow `id` through the ingress, without waiting for it. */
async function submit(id: string, source: string): Promise<void> {
  if ('skip' in server) return;
  const response = await fetch(`${server.ingress}/codecell/${id}/run/send`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(source),
  });
  assert.equal(response.status, 202, await response.text());
}

/** Waits for the cell workflow `id` to end: its result. */
async function outcome(id: string): Promise<CellResult> {
  if ('skip' in server) throw new Error(server.skip);
  const response = await fetch(`${server.ingress}/restate/workflow/codecell/${id}/attach`);
  const body = await response.text();
  assert.equal(response.status, 200, body);
  return JSON.parse(body) as CellResult;
}

/** Starts the cell in a worker, kills it with -9 once `tool` is under way, and lets a new worker finish it. */
async function killedMidCell(
  t: TestContext,
  id: string,
  source: string,
  tool: string,
): Promise<{ result: CellResult; effects: Effect[] }> {
  const effects = effectsFile(t);
  const port = await freePort();
  const first = await worker(t, port, effects, 'first');
  await submit(id, source);
  await waitFor(() => first.out().includes(`under way ${tool}`), 60_000).catch(() =>
    assert.fail(`the first worker never got to ${tool}:\n${first.out()}`),
  );
  await first.kill();
  await worker(t, port, effects, 'second');
  return { result: await outcome(id), effects: effectsOf(effects) };
}

describe('codecell/restate: a worker killed with -9 mid-cell', { skip, timeout: 120_000 }, () => {
  test('an answered call is not made again, the one under way is in doubt, and the cell ends as it would have', async (t) => {
    const { result, effects } = await killedMidCell(t, 'cell-1', MID_CELL_SOURCE, 'slow');
    assertMidCellEnd(result, effects, 'first', JSON.stringify(result));
  });

  test('an idempotent call under way is made again, with the same idempotency key', async (t) => {
    const { result, effects } = await killedMidCell(
      t,
      'cell-2',
      `text('hang ' + await tools.hang({ at: 1 }));`,
      'hang',
    );
    assert.deepEqual(
      effects.map((effect) => `${effect.tool} ${effect.mode}`),
      ['hang first', 'hang second'],
    );
    assert.equal(effects[0]?.key, effects[1]?.key);
    assert.equal(effects[0]?.key, 'restate:cell-2:1:tool-1');
    assert.deepEqual(result.items, [{ type: 'text', text: 'hang answered' }]);
    assert.deepEqual(result.inDoubt, []);
  });

  test('an approval waits across a worker restart and a suspension: the cell pauses again, takes the answer, and goes on', async (t) => {
    if ('skip' in server) return;
    const { answerCell } = await import('../../adapters/restate.js');
    const effects = effectsFile(t);
    const port = await freePort();
    const first = await worker(t, port, effects, 'first');
    await submit('cell-3', `text(await tools.deploy({ env: 'prod' }));`);
    // Paused: the workflow waits on the answer's durable promise (its journal says so).
    const waiting = async (): Promise<boolean> =>
      (
        await server.query(
          "SELECT j.index FROM sys_journal j JOIN sys_invocation i ON j.id = i.id WHERE i.target_service_key = 'cell-3' " +
            "AND i.target_handler_name = 'run' AND j.entry_type = 'Command: GetPromise'",
        )
      ).length > 0;
    for (const started = Date.now(); !(await waiting()); await new Promise((resolve) => setTimeout(resolve, 50)))
      assert.ok(Date.now() - started < 60_000, `the cell never paused:\n${first.out()}`);
    await first.kill();
    await worker(t, port, effects, 'second');
    // The next worker runs the cell again to the same pause, and Restate suspends it there.
    const status = async (): Promise<unknown> =>
      (await server.query("SELECT status FROM sys_invocation WHERE target_service_key = 'cell-3'"))[0]?.status;
    for (const started = Date.now(); (await status()) !== 'suspended'; await new Promise((r) => setTimeout(r, 50)))
      assert.ok(Date.now() - started < 60_000, `the cell never suspended: ${String(await status())}`);
    await answerCell(server.ingress, 'cell-3', 'tool-1', { approved: true });
    const result = await outcome('cell-3');
    assert.deepEqual(result.items, [{ type: 'text', text: 'deployed to prod' }]);
    assert.deepEqual(
      effectsOf(effects).map((effect) => `${effect.tool} ${effect.mode} approved ${String(effect.approved)}`),
      ['deploy first approved false', 'deploy second approved true'],
    );
  });

  test("Restate's own retries: a failed call of an idempotent tool is tried again by its run", async (t) => {
    const effects = effectsFile(t);
    await worker(t, await freePort(), effects, 'first');
    await submit('cell-4', `text(await tools.flaky({}));`);
    assert.deepEqual((await outcome('cell-4')).items, [{ type: 'text', text: 'ok after 3' }]);
    assert.equal(effectsOf(effects).length, 3);
  });

  test('parallel calls stay parallel: a call made while another is under way is made at once', async (t) => {
    const effects = effectsFile(t);
    await worker(t, await freePort(), effects, 'first');
    // `hang` never answers in this worker: `lookup`, made after it, is made while it is under way.
    await submit('cell-5', `const h = tools.hang({}); text(await tools.lookup({ q: 'z' }));`);
    await waitFor(() => effectsOf(effects).some((effect) => effect.tool === 'lookup'), 60_000);
  });
});

test('answerCell says which argument is wrong', { timeout: 60_000 }, async () => {
  const { answerCell } = await import('../../adapters/restate.js');
  await assert.rejects(answerCell('', 'cell-9', 'tool-1', { approved: true }), {
    message: "codecell/restate: answerCell's ingress must be a non-empty string",
  });
  await assert.rejects(answerCell('http://127.0.0.1:1', 'cell-9', 7 as unknown as string, { approved: true }), {
    message: "codecell/restate: answerCell's callId must be a non-empty string",
  });
});

test('examples/restate.mjs runs as printed in docs/restate.md', { skip, timeout: 120_000 }, async () => {
  if ('skip' in server) return;
  const example = readFileSync(new URL('../../../examples/restate.mjs', import.meta.url), 'utf8');
  const page = readFileSync(new URL('../../../docs/restate.md', import.meta.url), 'utf8');
  assert.ok(page.includes(example), 'docs/restate.md shows examples/restate.mjs as it is');
  const { status, stdout, stderr } = spawnSync(process.execPath, ['--no-node-snapshot', 'examples/restate.mjs'], {
    cwd: new URL('../../..', import.meta.url),
    env: {
      ...process.env,
      RESTATE_INGRESS_URL: server.ingress,
      RESTATE_ADMIN_URL: server.admin,
      PORT: String(await freePort()),
      RESTATE_LOGGING: 'ERROR', // the SDK's own lines go to stdout
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(status, 0, stderr);
  assert.equal(stdout, '42 done\n');
});
