import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString, getHeapStatistics } from 'node:v8';
import { connectInProcess } from '../../host/index.js';
import { isolatesInUseCount } from '../../src/isolate.js';
import { SessionRuntime } from '../../src/index.js';
import { capturingLogger, hang, ms, RecordingDelegate, texts, waitFor } from '../helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return getHeapStatistics().used_heap_size;
}


test('delegates that throw, hang or return junk never take the runtime down', async (t) => {
  const junk: Record<string, () => unknown> = {
    throws: () => { throw new TypeError('synchronous failure'); },
    rejectsWithString: () => Promise.reject('just a string'),
    symbol: () => Promise.resolve(Symbol('s')),
    nothing: () => Promise.resolve(undefined),
    hangs: () => hang(),
  };
  const runtime = new SessionRuntime({
    invokeTool: (call) => junk[call.tool.name]?.() as never,
    notify: () => { throw new Error('notify is broken'); },
    cellClosed: () => { throw new Error('cellClosed is broken'); },
  }, { tools: Object.keys(junk).map((name) => ({ name })), callbackAbortDeadlineMs: 30, logger: capturingLogger() });
  t.after(() => runtime.shutdown());
  const event = await (await runtime.execute({
    source: 'notify("n"); for (const name of ["throws", "rejectsWithString", "symbol", "nothing"]) { try { text(name + ": " + JSON.stringify(await tools[name]())) } catch (e) { text(name + ": " + e.message) } } tools.hangs(); text("end")',
  })).initialEvent;
  assert.deepEqual(texts(event), [
    'throws: synchronous failure',
    'rejectsWithString: just a string',
    'symbol: tools.symbol returned a value that is not JSON: a symbol is not a JSON value',
    'nothing: undefined',
    'end',
    'Warning: 1 tool call(s) were still running when the cell finished: tool-5',
  ]);
  assert.deepEqual(texts(await (await runtime.execute({ source: 'text("serving")' })).initialEvent), ['serving']);
});

test('a client that disappears mid-call makes the host shut its sessions down', async () => {
  const baseline = isolatesInUseCount();
  const linked = await connectInProcess({ logger: capturingLogger(), callbackAbortDeadlineMs: 50 });
  const delegate = new RecordingDelegate({ slow: hang });
  const session = await linked.client.createSession(delegate, { tools: [{ name: 'slow' }] });
  const { initialEvent } = await session.execute({ source: 'await tools.slow({})' }, { kind: 'pendingFrontier' });
  await initialEvent;
  await session.execute({ source: 'while (true) {}' }, { kind: 'yieldAfter', ms: 0 });
  assert.equal(isolatesInUseCount(), baseline + 2);
  const start = performance.now();
  linked.toHost.end();
  await linked.host.closed;
  assert.ok(ms(start) < 5_000);
  await waitFor(() => isolatesInUseCount() === baseline);
  await linked.client.close();
});

test('1000 cells created and terminated leave no live isolates and no heap growth', async () => {
  const runtime = new SessionRuntime(new RecordingDelegate(), { logger: capturingLogger() });
  const run = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const { cellId, initialEvent } = await runtime.execute({ source: i % 2 === 0 ? 'while (true) {}' : 'text(1); await new Promise(r => setTimeout(r, 60_000))' }, { kind: 'yieldAfter', ms: 0 });
      await initialEvent;
      assert.equal((await runtime.terminate(cellId)).kind, 'terminated');
    }
  };
  const baselineIsolates = isolatesInUseCount();
  await run(50);
  await waitFor(() => isolatesInUseCount() === baselineIsolates);
  const before = await settledHeap();
  await run(1000);
  await waitFor(() => isolatesInUseCount() === baselineIsolates);
  const after = await settledHeap();
  await runtime.shutdown();
  const growth = after - before;
  assert.ok(growth < 8 * 1024 * 1024, `heap grew by ${(growth / 1024 / 1024).toFixed(1)} MiB over 1000 cells`);
});
