// SPEC §6 "every transport waits the same way": terminate and shutdown resolve when the caller's
// own aborted delegate calls settled, or the session's deadline (from the cancel) passed —
// whichever is first — in-process and through HostClient alike.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hang, ms, RecordingDelegate } from './helpers.js';
import { bothKinds, networkHost } from './sessions.js';

const TOOLS = [{ name: 'slow' }];
const GENEROUS_MS = 3_000;

/** A cooperative tool that needs `cleanupMs` after its signal aborts; `finished` counts the done. */
function slowToCleanUp(cleanupMs: number): { delegate: RecordingDelegate; finished: () => number } {
  let finished = 0;
  const delegate = new RecordingDelegate({
    slow: (_call, signal) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener(
          'abort',
          () =>
            setTimeout(() => {
              finished++;
              reject(signal.reason);
            }, cleanupMs),
          { once: true },
        );
      }),
  });
  return { delegate, finished: () => finished };
}

for (const kind of [...bothKinds, networkHost]) {
  describe(`${kind.name}: the caller's own callbacks under the shared deadline`, () => {
    test('terminate waits for a tool that ignores its signal until the session deadline, not longer', async (t) => {
      const session = await kind.open(t, new RecordingDelegate({ slow: hang }), {
        tools: TOOLS,
        callbackAbortDeadlineMs: 400,
      });
      const { cellId, initialEvent } = await session.execute(
        { source: 'await tools.slow({})' },
        { kind: 'pendingFrontier' },
      );
      assert.equal((await initialEvent).kind, 'pending');
      const start = performance.now();
      assert.equal((await session.terminate(cellId)).kind, 'terminated');
      const took = ms(start);
      assert.ok(took >= 350 && took < 400 + GENEROUS_MS, `terminate took ${took} ms`);
    });

    test('terminate resolves once a cooperative tool finished cleaning up, before the deadline', async (t) => {
      const { delegate, finished } = slowToCleanUp(50);
      const session = await kind.open(t, delegate, { tools: TOOLS, callbackAbortDeadlineMs: 10_000 });
      const { cellId, initialEvent } = await session.execute(
        { source: 'await tools.slow({})' },
        { kind: 'pendingFrontier' },
      );
      await initialEvent;
      const start = performance.now();
      await session.terminate(cellId);
      assert.equal(finished(), 1, 'the tool had finished when terminate resolved');
      assert.ok(ms(start) < 8_000, `terminate took ${ms(start)} ms: it waited for the deadline (10 s)`);
    });

    test('after shutdown() resolved, every cooperative tool of every cell has finished', async (t) => {
      const { delegate, finished } = slowToCleanUp(50);
      const session = await kind.open(t, delegate, { tools: TOOLS, callbackAbortDeadlineMs: 2_000 });
      for (let i = 0; i < 5; i++)
        await (
          await session.execute(
            { source: 'await Promise.all([tools.slow({}), tools.slow({})])' },
            { kind: 'pendingFrontier' },
          )
        ).initialEvent;
      await session.shutdown();
      assert.equal(finished(), 10);
    });

    test('shutdown with 100 cells x 100 hanging calls waits one deadline, not one per cell', async (t) => {
      const session = await kind.open(t, new RecordingDelegate({ slow: hang }), {
        tools: TOOLS,
        callbackAbortDeadlineMs: 100,
        limits: { maxCellsPerSession: 100 },
      });
      const source = 'await Promise.all(Array.from({ length: 100 }, () => tools.slow({})))';
      for (let i = 0; i < 100; i++) await (await session.execute({ source }, { kind: 'pendingFrontier' })).initialEvent;
      const start = performance.now();
      await session.shutdown();
      const took = ms(start);
      assert.ok(took >= 90 && took < 100 + GENEROUS_MS, `shutdown took ${took} ms`);
    });
  });
}
