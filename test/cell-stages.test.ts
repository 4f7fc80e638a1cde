import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { after, test } from 'node:test';
import { IsolatePool } from '../src/index.js';
import { CELL_STAGE_CHANNEL, stageClock, stageDone, type CellStageMessage } from '../src/isolate/stages.js';
import { settleIsolatesForExit } from '../src/internal.js';
import { newRuntime, RecordingDelegate, texts, waitFor } from './helpers.js';

// Isolate teardown settles before this process exits (a Node 26 run under load once crashed in
// isolated-vm's teardown at exit, after every test here had passed).
after(() => settleIsolatesForExit());

/** The stages published while `run` runs, in order. */
async function stagesOf(run: (seen: readonly CellStageMessage[]) => Promise<void>): Promise<CellStageMessage[]> {
  const seen: CellStageMessage[] = [];
  const listener = (message: unknown): void => void seen.push(message as CellStageMessage);
  subscribe(CELL_STAGE_CHANNEL, listener);
  try {
    await run(seen);
  } finally {
    unsubscribe(CELL_STAGE_CHANNEL, listener);
  }
  return seen;
}

test('a cell publishes each stage of its life in the host once, in order, with its time', async (t) => {
  const pool = new IsolatePool({ size: 0 });
  t.after(() => pool.drain());
  const delegate = new RecordingDelegate({ echo: async (call) => call.input });
  const runtime = newRuntime(t, delegate, { isolatePool: pool, tools: [{ name: 'echo' }] });
  const stages = await stagesOf(async (seen) => {
    const event = await (
      await runtime.execute({ source: 'text((await tools.echo({ n: 1 })) !== undefined)' })
    ).initialEvent;
    assert.deepEqual(texts(event), ['true']);
    // The disposal waits a turn of the event loop after the event.
    await waitFor(() => seen.some((message) => message.stage === 'dispose'));
  });
  assert.deepEqual(
    stages.map((message) => message.stage),
    ['prepare', 'isolate', 'context', 'prelude', 'admit', 'configure', 'compile', 'instantiate', 'dispose'],
  );
  for (const { stage, ms } of stages) assert.ok(ms >= 0 && ms < 10_000, `${stage} took ${ms} ms`);
  // Made without a pool, the isolate is made while the cell waits for it.
  const time = (stage: string): number => stages.find((message) => message.stage === stage)?.ms ?? Number.NaN;
  assert.ok(time('admit') >= time('isolate') + time('context') + time('prelude'));
});

test('nothing is timed while nobody subscribes to the stage channel', () => {
  assert.equal(stageClock(), 0);
  assert.equal(stageDone('prepare', 0), 0);
  const listener = (): void => {};
  subscribe(CELL_STAGE_CHANNEL, listener);
  try {
    const start = stageClock();
    assert.ok(start > 0);
    assert.ok(stageDone('prepare', start) >= start);
    // A stage begun before anyone listened is not published half-timed.
    assert.equal(stageDone('prepare', 0), 0);
  } finally {
    unsubscribe(CELL_STAGE_CHANNEL, listener);
  }
});
