// codecell/workflow against Vercel's Workflow DevKit (issue 87): the app built by the DevKit's own
// builder (test/workflow-app.ts), its runs in the local world, a worker killed with -9 in the
// middle of a cell, and the next worker takes the run up (the world recovers the runs left
// active). The effects file is the ground truth: each tool appends a line when it is called.
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
import { buildWorkflowApp } from '../workflow-app.js';

const WORKER = fileURLToPath(new URL('../fixtures/workflow-worker.js', import.meta.url));
const app = await buildWorkflowApp();
const skip = 'skip' in app ? app.skip : false;
if ('remove' in app) after(() => app.remove());

interface CellResult {
  kind: string;
  items: { text: string }[];
  inDoubt: unknown[];
  error?: string;
}

interface Worker {
  /** What it printed so far. */
  out(): string;
  /** Sends a command; resolves with the first line it printed after that starts with `answer`. */
  ask(command: string, answer: string): Promise<string>;
  kill(): Promise<void>;
}

/** A worker on the app's local world (a new folder per test), with the tools in `mode`. */
async function worker(t: TestContext, data: string, effects: string, mode: string): Promise<Worker> {
  if ('skip' in app) throw new Error(app.skip);
  const child = spawn(process.execPath, ['--no-node-snapshot', WORKER, app.dir, data, effects, mode], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = once(child, 'exit');
  t.after(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  await waitFor(() => out.includes('ready\n') || child.exitCode !== null, 30_000);
  assert.ok(out.includes('ready\n'), out);
  return {
    out: () => out,
    ask: async (command, answer) => {
      const from = out.length;
      child.stdin.write(`${command}\n`);
      const line = (): string | undefined =>
        out
          .slice(from)
          .split('\n')
          .find((l) => l.startsWith(`${answer} `) || l === answer || l.startsWith('failed '));
      await waitFor(() => line() !== undefined && out.endsWith('\n'), 60_000).catch(() =>
        assert.fail(`no ${answer} for ${command}:\n${out}`),
      );
      assert.ok(!line()!.startsWith('failed '), line());
      return line()!.slice(answer.length + 1);
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Folders of the tests' local worlds: removed once every worker is gone. */
const folders: string[] = [];
after(() => folders.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A folder of the test's own (its local world's data), and an effects file. */
function project(): { dir: string; effects: string } {
  const dir = mkdtempSync(join(tmpdir(), 'codecell-workflow-run-'));
  folders.push(dir);
  const effects = join(dir, 'effects.jsonl');
  writeFileSync(effects, '');
  return { dir, effects };
}

/** Starts the cell in a worker, kills it with -9 once `tool` is under way, and lets a new worker finish it. */
async function killedMidCell(
  t: TestContext,
  source: string,
  tool: string,
): Promise<{ runId: string; result: CellResult; effects: Effect[] }> {
  const { dir, effects } = project();
  const first = await worker(t, dir, effects, 'first');
  const runId = await first.ask(`start ${JSON.stringify(source)}`, 'run');
  await waitFor(() => first.out().includes(`under way ${tool}`), 60_000).catch(() =>
    assert.fail(`the first worker never got to ${tool}:\n${first.out()}`),
  );
  await first.kill();
  const second = await worker(t, dir, effects, 'second');
  const result = JSON.parse(await second.ask(`await ${runId}`, 'result')) as CellResult;
  return { runId, result, effects: effectsOf(effects) };
}

describe('codecell/workflow: a worker killed with -9 mid-cell', { skip, timeout: 120_000 }, () => {
  test('an answered call is not made again, the one under way is in doubt, and the cell ends as it would have', async (t) => {
    const { result, effects } = await killedMidCell(t, MID_CELL_SOURCE, 'slow');
    assertMidCellEnd(result, effects, 'first', JSON.stringify(result));
  });

  test('an idempotent call under way is made again, with the same idempotency key', async (t) => {
    const { runId, result, effects } = await killedMidCell(t, `text('hang ' + await tools.hang({ at: 1 }));`, 'hang');
    assert.deepEqual(
      effects.map((effect) => `${effect.tool} ${effect.mode}`),
      ['hang first', 'hang second'],
    );
    assert.equal(effects[0]?.key, effects[1]?.key);
    assert.equal(effects[0]?.key, `workflow:${runId}:1:tool-1`);
    assert.deepEqual(result.items, [{ type: 'text', text: 'hang answered' }]);
    assert.deepEqual(result.inDoubt, []);
  });

  test('an approval waits across a worker restart: the cell takes the answer in the next worker and goes on', async (t) => {
    const { dir, effects } = project();
    const first = await worker(t, dir, effects, 'first');
    const runId = await first.ask(`start ${JSON.stringify(`text(await tools.deploy({ env: 'prod' }));`)}`, 'run');
    await first.ask(`paused ${runId}`, 'paused');
    await first.kill();
    const second = await worker(t, dir, effects, 'second');
    await second.ask(`paused ${runId}`, 'paused');
    await second.ask(`answer ${runId} tool-1`, 'answered');
    const result = JSON.parse(await second.ask(`await ${runId}`, 'result')) as CellResult;
    assert.deepEqual(result.items, [{ type: 'text', text: 'deployed to prod' }]);
    assert.deepEqual(
      effectsOf(effects).map((effect) => `${effect.tool} ${effect.mode} approved ${String(effect.approved)}`),
      ['deploy first approved false', 'deploy second approved true'],
    );
  });

  test("the DevKit's own retries: a failed call of an idempotent tool is tried again by its step", async (t) => {
    const { dir, effects } = project();
    const only = await worker(t, dir, effects, 'first');
    const runId = await only.ask(`start ${JSON.stringify('text(await tools.flaky({}));')}`, 'run');
    const result = JSON.parse(await only.ask(`await ${runId}`, 'result')) as CellResult;
    assert.deepEqual(result.items, [{ type: 'text', text: 'ok after 3' }]);
    assert.equal(effectsOf(effects).length, 3);
  });

  test('parallel calls stay parallel: a call made while another is under way is made at once', async (t) => {
    const { dir, effects } = project();
    const only = await worker(t, dir, effects, 'first');
    // `hang` never answers in this worker: `lookup`, made after it, is made while it is under way.
    await only.ask(`start ${JSON.stringify(`const h = tools.hang({}); text(await tools.lookup({ q: 'z' }));`)}`, 'run');
    await waitFor(() => effectsOf(effects).some((effect) => effect.tool === 'lookup'), 60_000);
  });
});

test('answerCell, cellLoop and advanceCell say which argument is wrong', { skip, timeout: 60_000 }, async () => {
  const { advanceCell, answerCell, cellLoop } = await import('../../adapters/workflow.js');
  const advance = async (): Promise<never> => Promise.reject(new Error('not reached'));
  await assert.rejects(cellLoop('', 'text(1)', { advance, call: advance }), {
    message: "codecell/workflow: cellLoop's runId must be a non-empty string",
  });
  await assert.rejects(cellLoop('wrun_1', 7 as unknown as string, { advance, call: advance }), {
    message: "codecell/workflow: cellLoop's source must be a string",
  });
  await assert.rejects(cellLoop('wrun_1', 'text(1)', { advance } as never), {
    message: "codecell/workflow: cellLoop's steps must be { advance, call }, your two step functions",
  });
  await assert.rejects(advanceCell({ tools: [], delegate: { invokeTool: advance } }, 'text(1)', {} as never), {
    message: "codecell/workflow: advanceCell's journal must be the one cellLoop hands its advance step",
  });
  await assert.rejects(answerCell('', 'tool-1', { approved: true }), {
    message: "codecell/workflow: answerCell's runId must be a non-empty string",
  });
  await assert.rejects(answerCell('wrun_1', 7 as unknown as string, { approved: true }), {
    message: "codecell/workflow: answerCell's callId must be a non-empty string",
  });
  await assert.rejects(answerCell('wrun_1', 'tool-1', null as unknown as { approved: true }), {
    message: "codecell/workflow: answerCell's answer must be an object",
  });
});

test('examples/workflow/main.mjs runs as docs/workflow.md shows it', { skip, timeout: 120_000 }, () => {
  const root = new URL('../../..', import.meta.url);
  const example = readFileSync(new URL('examples/workflow/main.mjs', root), 'utf8');
  const page = readFileSync(new URL('docs/workflow.md', root), 'utf8');
  const shown = page.split('```js\n').at(-1)!.split('```')[0]!.split('\n').slice(1).join('\n');
  assert.ok(example.includes(shown), 'docs/workflow.md shows the agent of examples/workflow/main.mjs as it is');
  const { status, stdout, stderr } = spawnSync(process.execPath, ['--no-node-snapshot', 'examples/workflow/main.mjs'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(status, 0, stderr);
  assert.equal(stdout, '42 done\n');
});
