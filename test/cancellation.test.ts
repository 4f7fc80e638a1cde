import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CodeCellError, SessionRuntime } from '../src/index.js';
import type { CellStreamEvent } from '../src/index.js';
import { capturingLogger, deferred, hang, ms, newRuntime, RecordingDelegate, texts, untilAborted } from './helpers.js';

const TOOLS = [{ name: 'slow' }, { name: 'fast' }];
const GENEROUS_MS = 5_000;

test('terminate() with a non-cooperative tool call waits for the shared deadline, then resolves', async (t) => {
  const delegate = new RecordingDelegate({ slow: hang });
  const runtime = newRuntime(t, delegate, { tools: TOOLS, callbackAbortDeadlineMs: 150 });
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'await tools.slow({})' },
    { kind: 'pendingFrontier' },
  );
  await initialEvent;
  const start = performance.now();
  const event = await runtime.terminate(cellId);
  const elapsed = ms(start);
  assert.deepEqual(event, { kind: 'terminated', cellId, items: [], reason: 'requested' });
  assert.ok(elapsed >= 145, `terminate returned after ${elapsed} ms, before the deadline`);
  assert.ok(elapsed < GENEROUS_MS);
});

test('terminate() with a cooperative tool call does not wait for the deadline, and the signal carries a CodeCellError', async (t) => {
  const delegate = new RecordingDelegate({ slow: (_call, signal) => untilAborted(signal) });
  const runtime = newRuntime(t, delegate, { tools: TOOLS, callbackAbortDeadlineMs: 10_000 });
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'await tools.slow({})' },
    { kind: 'pendingFrontier' },
  );
  await initialEvent;
  const start = performance.now();
  await runtime.terminate(cellId);
  assert.ok(ms(start) < GENEROUS_MS);
  const signal = delegate.signals[0];
  assert.equal(signal?.aborted, true);
  assert.ok(signal?.reason instanceof CodeCellError);
});

test('a hanging notification and a hanging tool call share one deadline on terminate', async (t) => {
  const delegate = new RecordingDelegate({ slow: hang });
  delegate.notifyHandler = hang;
  const runtime = newRuntime(t, delegate, { tools: TOOLS, callbackAbortDeadlineMs: 1_500 });
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'notify("stuck"); await tools.slow({})' },
    { kind: 'pendingFrontier' },
  );
  await initialEvent;
  assert.equal(delegate.notifications.length, 1);
  const start = performance.now();
  await runtime.terminate(cellId);
  const elapsed = ms(start);
  assert.ok(elapsed >= 1_495, `returned after ${elapsed} ms`);
  assert.ok(elapsed < 2_900, `took ${elapsed} ms: that is two deadlines, not one`);
  assert.equal(delegate.notifySignals[0]?.aborted, true);
  assert.equal(delegate.signals[0]?.aborted, true);
});

test('shutdown of 20 cells with hanging callbacks takes one deadline, not twenty', async (t) => {
  const delegate = new RecordingDelegate({ slow: hang });
  delegate.notifyHandler = hang;
  const runtime = new SessionRuntime(delegate, {
    tools: TOOLS,
    callbackAbortDeadlineMs: 300,
    logger: capturingLogger(),
  });
  t.after(() => runtime.shutdown());
  const cells = await Promise.all(
    Array.from({ length: 20 }, () =>
      runtime.execute(
        { source: 'notify("n"); await Promise.all([tools.slow({}), tools.slow({})])' },
        { kind: 'pendingFrontier' },
      ),
    ),
  );
  await Promise.all(cells.map((cell) => cell.initialEvent));
  const start = performance.now();
  await runtime.shutdown();
  const elapsed = ms(start);
  assert.ok(elapsed >= 295, `returned after ${elapsed} ms`);
  assert.ok(elapsed < 5_000, `took ${elapsed} ms for 20 cells: twenty deadlines would be 6000`);
  assert.equal(delegate.closed.length, 20);
  for (const cell of cells) assert.equal((await cell.initialEvent).kind, 'pending');
});

test('terminate during the notification drain of a natural completion finishes within the deadline of that moment', async (t) => {
  const arrived = deferred();
  const delegate = new RecordingDelegate();
  delegate.notifyHandler = () => {
    arrived.resolve();
    return hang();
  };
  const runtime = newRuntime(t, delegate, { callbackAbortDeadlineMs: 150 });
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'text("out"); notify("slow")' },
    { kind: 'yieldAfter', ms: 60_000 },
  );
  await arrived.promise;
  const start = performance.now();
  const event = await runtime.terminate(cellId);
  const elapsed = ms(start);
  assert.deepEqual(event, { kind: 'terminated', cellId, items: [{ type: 'text', text: 'out' }], reason: 'requested' });
  assert.equal(await initialEvent, event);
  assert.ok(elapsed >= 145 && elapsed < GENEROUS_MS, `took ${elapsed} ms`);
});

test('notifications still undelivered after completionDrainMs are cancelled and the cell completes', async (t) => {
  const delegate = new RecordingDelegate();
  delegate.notifyHandler = hang;
  const runtime = newRuntime(t, delegate, { callbackAbortDeadlineMs: 50, limits: { completionDrainMs: 100 } });
  const start = performance.now();
  const event = await (await runtime.execute({ source: 'notify("a"); text("done")' })).initialEvent;
  assert.deepEqual(texts(event), ['done']);
  assert.equal(event.kind, 'completed');
  assert.ok(ms(start) >= 100);
  assert.equal(delegate.notifySignals[0]?.aborted, true);
});

test('late results of abandoned callbacks produce no output, no event and no late notify', async (t) => {
  const lateTool = deferred<number>();
  const lateNotify = deferred();
  const delegate = new RecordingDelegate({ slow: () => lateTool.promise });
  delegate.notifyHandler = () => lateNotify.promise;
  const runtime = newRuntime(t, delegate, { tools: TOOLS, callbackAbortDeadlineMs: 30 });
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'notify("first"); notify("second"); const r = await tools.slow({}); text("got " + r)' },
    { kind: 'pendingFrontier' },
  );
  const stream: CellStreamEvent[] = [];
  const consumed = (async () => {
    for await (const event of runtime.events(cellId)) stream.push(event);
  })();
  await initialEvent;
  await runtime.terminate(cellId);
  await consumed;
  const before = stream.length;
  lateTool.resolve(1);
  lateNotify.reject(new Error('late failure'));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(stream.length, before);
  assert.deepEqual(
    delegate.notifications.map((n) => n.text),
    ['first'],
  );
  assert.equal(stream.at(-1)?.type, 'closed');
  assert.equal(stream.filter((event) => event.type === 'toolResult').length, 0);
});

test('notifications reach a slow delegate one at a time, in emission order, all before completed', async (t) => {
  const delegate = new RecordingDelegate();
  const delivered: string[] = [];
  let inFlight = 0;
  let peak = 0;
  // Earlier notifications take longer: delivered concurrently, they would finish in reverse.
  delegate.notifyHandler = async (notification) => {
    peak = Math.max(peak, ++inFlight);
    await new Promise((resolve) => setTimeout(resolve, 40 - 4 * Number(notification.text.slice(1))));
    inFlight--;
    delivered.push(notification.text);
  };
  const runtime = newRuntime(t, delegate);
  const event = await (await runtime.execute({ source: 'for (let i = 0; i < 8; i++) notify("n" + i)' })).initialEvent;
  assert.equal(event.kind, 'completed');
  assert.deepEqual(
    delivered,
    Array.from({ length: 8 }, (_, i) => `n${i}`),
    'all delivered before completed, in order',
  );
  assert.equal(peak, 1, 'one at a time');
});

test('with maxConcurrentToolCalls 2, five parallel calls never exceed two in flight and start in order', async (t) => {
  let inFlight = 0;
  let peak = 0;
  const delegate = new RecordingDelegate({
    slow: async (call) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 15));
      inFlight--;
      return call.callId;
    },
  });
  const runtime = newRuntime(t, delegate, { tools: TOOLS, limits: { maxConcurrentToolCalls: 2 } });
  const event = await (
    await runtime.execute({
      source: 'const r = await Promise.all([1,2,3,4,5].map(i => tools.slow({i}))); text(r.join(","))',
    })
  ).initialEvent;
  assert.deepEqual(texts(event), ['tool-1,tool-2,tool-3,tool-4,tool-5']);
  assert.equal(peak, 2);
  assert.deepEqual(
    delegate.calls.map((call) => call.callId),
    ['tool-1', 'tool-2', 'tool-3', 'tool-4', 'tool-5'],
  );
});

test('a delegate that throws synchronously or returns non-JSON gives the cell a readable rejection', async (t) => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const delegate = {
    invokeTool(call: { tool: { name: string } }) {
      switch (call.tool.name) {
        case 'sync':
          throw new Error('thrown synchronously');
        case 'cyclic':
          return Promise.resolve(cyclic);
        case 'bigint':
          return Promise.resolve({ n: 1n });
        case 'fn':
          return Promise.resolve({ f: () => 1 });
        default:
          return Promise.resolve('fine');
      }
    },
    notify: () => {
      throw new Error('notify blew up');
    },
  };
  const logger = capturingLogger();
  const runtime = new SessionRuntime(delegate as never, {
    tools: ['sync', 'cyclic', 'bigint', 'fn', 'ok'].map((name) => ({ name })),
    logger,
  });
  t.after(() => runtime.shutdown());
  const event = await (
    await runtime.execute({
      source:
        'notify("x"); for (const name of ["sync", "cyclic", "bigint", "fn", "ok"]) { try { text(await tools[name]()) } catch (e) { text(name + ": " + e.message) } }',
    })
  ).initialEvent;
  const lines = texts(event);
  assert.equal(lines[0], 'sync: thrown synchronously');
  assert.match(lines[1] ?? '', /^cyclic: tools\.cyclic returned a value that is not JSON: .*circular/i);
  assert.match(lines[2] ?? '', /^bigint: tools\.bigint returned a value that is not JSON/);
  assert.match(lines[3] ?? '', /^fn: tools\.fn returned a value that is not JSON/);
  assert.equal(lines[4], 'fine');
  assert.ok(logger.warnings.some((warning) => warning.includes('notify blew up')));
  assert.deepEqual(texts(await (await runtime.execute({ source: 'text("serving")' })).initialEvent), ['serving']);
});

test('cellClosed is called once per cell even when it throws, and a hanging cellClosed cannot wedge shutdown', async (t) => {
  const delegate = new RecordingDelegate();
  let calls = 0;
  delegate.cellClosedHandler = () => {
    calls++;
    if (calls === 1) throw new Error('closing failed');
    return hang();
  };
  const logger = capturingLogger();
  const runtime = new SessionRuntime(delegate, { callbackAbortDeadlineMs: 100, logger });
  t.after(() => runtime.shutdown());
  await (
    await runtime.execute({ source: 'text(1)' })
  ).initialEvent;
  await runtime.execute({ source: 'while (true) {}' }, { kind: 'yieldAfter', ms: 0 });
  const start = performance.now();
  await runtime.shutdown();
  assert.ok(ms(start) < GENEROUS_MS);
  assert.equal(delegate.closed.length, 2);
  assert.ok(logger.warnings.some((warning) => warning.includes('closing failed')));
});
