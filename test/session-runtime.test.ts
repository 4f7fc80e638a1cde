import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deferred, hang, newRuntime, RecordingDelegate, texts } from './helpers.js';

const ADD = [{ name: 'add', description: 'adds two numbers' }];
const GENEROUS_MS = 5_000;

test('text() renders strings as-is, primitives via String() and objects as JSON', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const { initialEvent } = await runtime.execute({
    source: 'text("a"); text(1); text({x:1}); text(null); text(undefined); text(10n); text([1,"b"])',
  });
  const event = await initialEvent;
  assert.equal(event.kind, 'completed');
  assert.deepEqual(texts(event), ['a', '1', '{"x":1}', 'null', 'undefined', '10', '[1,"b"]']);
  assert.equal('error' in event, false);
});

test('an uncaught throw completes the cell with the error, its line, and the output before it', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const { initialEvent } = await runtime.execute({ source: 'text("before");\n\nthrow new Error("boom");' });
  const event = await initialEvent;
  assert.equal(event.kind, 'completed');
  assert.deepEqual(texts(event), ['before']);
  assert.ok(event.kind === 'completed' && event.error !== undefined);
  assert.match(event.error, /Error: boom/);
  assert.match(event.error, /cell\.js:3:/);
});

test('a rejection after a top-level await completes the cell with that error and line', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate({ add: () => 1 }), { tools: ADD });
  const { initialEvent } = await runtime.execute({
    source: 'await tools.add({});\ntext("mid");\nthrow new TypeError("late");',
  });
  const event = await initialEvent;
  assert.equal(event.kind, 'completed');
  assert.deepEqual(texts(event), ['mid']);
  assert.ok(event.kind === 'completed' && event.error?.startsWith('TypeError: late'));
  assert.match(event.error ?? '', /cell\.js:3:/);
});

test('a tool call reaches the delegate with its call id, tool, kind, input and key, and resolves with the JSON result', async (t) => {
  const delegate = new RecordingDelegate({
    add: ({ input }) => {
      const { a, b } = input as { a: number; b: number };
      return { sum: a + b };
    },
  });
  const runtime = newRuntime(t, delegate, { tools: ADD, key: 'adder' });
  const { cellId, initialEvent } = await runtime.execute({
    source: 'const r = await tools.add({a:1,b:2}); text(r.sum)',
  });
  const event = await initialEvent;
  assert.deepEqual(texts(event), ['3']);
  assert.deepEqual(delegate.calls, [
    {
      cellId,
      callId: 'tool-1',
      tool: { name: 'add' },
      kind: 'function',
      input: { a: 1, b: 2 },
      idempotencyKey: 'adder:1:tool-1',
    },
  ]);
});

test('a rejecting delegate rejects the tool promise with its message, catchable in the cell', async (t) => {
  const delegate = new RecordingDelegate({
    add: () => {
      throw new Error('no adding today');
    },
  });
  const runtime = newRuntime(t, delegate, { tools: ADD });
  const { initialEvent } = await runtime.execute({
    source: 'try { await tools.add({a:1}) } catch (e) { text(e instanceof Error); text(e.message) }',
  });
  assert.deepEqual(texts(await initialEvent), ['true', 'no adding today']);
});

test('namespaced and oddly named tools get normalized identifiers, call ids count per cell', async (t) => {
  const delegate = new RecordingDelegate({ 'get-weather': () => 'sunny', '2fa': (call) => call.input ?? null });
  const runtime = newRuntime(t, delegate, {
    tools: [
      { name: 'get-weather', namespace: 'wx' },
      { name: '2fa', kind: 'freeform', description: 'checks' },
    ],
  });
  const { initialEvent } = await runtime.execute({
    source:
      'text(await tools.wx__get_weather()); text(await tools._2fa("123")); text(ALL_TOOLS.map(t => t.name + ":" + t.description).join(","))',
  });
  assert.deepEqual(texts(await initialEvent), ['sunny', '123', 'wx__get_weather:,_2fa:checks']);
  assert.deepEqual(
    delegate.calls.map((c) => [c.callId, c.tool, c.kind, c.input]),
    [
      ['tool-1', { name: 'get-weather', namespace: 'wx' }, 'function', {}],
      ['tool-2', { name: '2fa' }, 'freeform', '123'],
    ],
  );
});

test('a tool given the wrong input type rejects with a TypeError naming the tool', async (t) => {
  const delegate = new RecordingDelegate({ add: () => 1 });
  const runtime = newRuntime(t, delegate, { tools: ADD });
  const { initialEvent } = await runtime.execute({
    source:
      'for (const bad of [1, "x", null, [1]]) { try { await tools.add(bad) } catch (e) { text(e.name + " " + /tools\\.add/.test(e.message)) } }',
  });
  assert.deepEqual(texts(await initialEvent), Array(4).fill('TypeError true'));
  assert.equal(delegate.calls.length, 0);
});

test('pendingFrontier reports both outstanding calls of a Promise.all', async (t) => {
  const delegate = new RecordingDelegate({ add: hang });
  const runtime = newRuntime(t, delegate, { tools: ADD });
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'text("go"); await Promise.all([tools.add({a:1}), tools.add({a:2})])' },
    { kind: 'pendingFrontier' },
  );
  assert.deepEqual(await initialEvent, {
    kind: 'pending',
    cellId,
    items: [{ type: 'text', text: 'go' }],
    pendingToolCallIds: ['tool-1', 'tool-2'],
  });
});

test('pendingFrontier waits for a running timer callback and reports no calls when only a timer is left', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const { initialEvent } = await runtime.execute(
    { source: 'await new Promise(r => setTimeout(r, 60_000))' },
    { kind: 'pendingFrontier' },
  );
  const event = await initialEvent;
  assert.equal(event.kind, 'pending');
  assert.deepEqual(event.kind === 'pending' && event.pendingToolCallIds, []);
});

test('yieldAfter fires on time during a CPU-bound loop, and terminate stops the loop', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const start = performance.now();
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'text("spin"); while (true) {}' },
    { kind: 'yieldAfter', ms: 50 },
  );
  const event = await initialEvent;
  assert.deepEqual(event, { kind: 'yielded', cellId, items: [{ type: 'text', text: 'spin' }] });
  assert.ok(performance.now() - start < GENEROUS_MS);
  assert.deepEqual(await runtime.terminate(cellId), { kind: 'terminated', cellId, items: [], reason: 'requested' });
});

test('yield_control() yields a long yieldAfter at once, and the next observe gets the rest', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const start = performance.now();
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'text("before"); yield_control(); await new Promise(r => setTimeout(r, 20)); text("after")' },
    { kind: 'yieldAfter', ms: 60_000 },
  );
  assert.deepEqual(await initialEvent, { kind: 'yielded', cellId, items: [{ type: 'text', text: 'before' }] });
  assert.ok(performance.now() - start < GENEROUS_MS);
  assert.deepEqual(await runtime.observe(cellId, { kind: 'yieldAfter', ms: 60_000 }), {
    kind: 'completed',
    cellId,
    items: [{ type: 'text', text: 'after' }],
  });
});

test('yieldAfter(0) returns at once with what is buffered, without disturbing the cell', async (t) => {
  const gate = deferred<number>();
  const runtime = newRuntime(t, new RecordingDelegate({ add: () => gate.promise }), { tools: ADD });
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'text("a"); text(await tools.add({}))' },
    { kind: 'pendingFrontier' },
  );
  assert.equal((await initialEvent).kind, 'pending');
  assert.deepEqual(await runtime.observe(cellId, { kind: 'yieldAfter', ms: 0 }), {
    kind: 'yielded',
    cellId,
    items: [],
  });
  gate.resolve(7);
  assert.deepEqual(await runtime.observe(cellId, { kind: 'yieldAfter', ms: 60_000 }), {
    kind: 'completed',
    cellId,
    items: [{ type: 'text', text: '7' }],
  });
});

test('a completion nobody observed is returned by the next observe', async (t) => {
  const gate = deferred();
  const delegate = new RecordingDelegate();
  delegate.cellClosedHandler = () => gate.resolve();
  const runtime = newRuntime(t, delegate);
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'await new Promise(r => setTimeout(r, 30)); text("done")' },
    { kind: 'yieldAfter', ms: 0 },
  );
  assert.equal((await initialEvent).kind, 'yielded');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(await runtime.observe(cellId, { kind: 'yieldAfter', ms: 60_000 }), {
    kind: 'completed',
    cellId,
    items: [{ type: 'text', text: 'done' }],
  });
  await gate.promise;
  assert.deepEqual(delegate.closed, [cellId]);
});

test('terminate of a cell that completed unobserved returns completed, not terminated', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'await new Promise(r => setTimeout(r, 30)); text("done")' },
    { kind: 'yieldAfter', ms: 0 },
  );
  await initialEvent;
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(await runtime.terminate(cellId), {
    kind: 'completed',
    cellId,
    items: [{ type: 'text', text: 'done' }],
  });
  await assert.rejects(runtime.observe(cellId, { kind: 'yieldAfter', ms: 0 }), { code: 'ERR_MISSING_CELL' });
});

test('a second observer is refused with ERR_BUSY_OBSERVER and the first still gets its event', async (t) => {
  const gate = deferred<number>();
  const runtime = newRuntime(t, new RecordingDelegate({ add: () => gate.promise }), { tools: ADD });
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'text(await tools.add({}))' },
    { kind: 'yieldAfter', ms: 60_000 },
  );
  await assert.rejects(runtime.observe(cellId, { kind: 'yieldAfter', ms: 0 }), {
    code: 'ERR_BUSY_OBSERVER',
    message: `cell ${cellId} already has an active observer`,
  });
  await assert.rejects(runtime.beginObserve(cellId, { kind: 'pendingFrontier' }), { code: 'ERR_BUSY_OBSERVER' });
  gate.resolve(5);
  assert.deepEqual(await initialEvent, { kind: 'completed', cellId, items: [{ type: 'text', text: '5' }] });
});

test('beginObserve resolves at once and its event settles later', async (t) => {
  const gate = deferred<number>();
  const runtime = newRuntime(t, new RecordingDelegate({ add: () => gate.promise }), { tools: ADD });
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'text(await tools.add({}))' },
    { kind: 'pendingFrontier' },
  );
  await initialEvent;
  const { event } = await runtime.beginObserve(cellId, { kind: 'yieldAfter', ms: 60_000 });
  gate.resolve(1);
  assert.equal((await event).kind, 'completed');
});

test('a second concurrent terminate is refused with ERR_ALREADY_TERMINATING', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate({ add: hang }), { tools: ADD });
  const { cellId } = await runtime.execute({ source: 'await tools.add({})' }, { kind: 'pendingFrontier' });
  const first = runtime.terminate(cellId);
  await assert.rejects(runtime.terminate(cellId), {
    code: 'ERR_ALREADY_TERMINATING',
    message: `cell ${cellId} is already terminating`,
  });
  assert.equal((await first).kind, 'terminated');
});

test('observe and terminate of an unknown or closed cell reject with ERR_MISSING_CELL', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  await assert.rejects(runtime.observe('nope', { kind: 'yieldAfter', ms: 0 }), { code: 'ERR_MISSING_CELL' });
  await assert.rejects(runtime.terminate('nope'), { code: 'ERR_MISSING_CELL' });
  const { cellId, initialEvent } = await runtime.execute({ source: 'text(1)' });
  assert.equal((await initialEvent).kind, 'completed');
  await assert.rejects(runtime.observe(cellId, { kind: 'yieldAfter', ms: 0 }), { code: 'ERR_MISSING_CELL' });
  await assert.rejects(runtime.terminate(cellId), { code: 'ERR_MISSING_CELL' });
});

test('an attached observer receives the same terminated event as terminate()', async (t) => {
  const ready = deferred();
  const delegate = new RecordingDelegate();
  delegate.notifyHandler = () => ready.resolve();
  const runtime = newRuntime(t, delegate);
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'text("x"); notify("ready"); while (true) {}' },
    { kind: 'yieldAfter', ms: 60_000 },
  );
  await ready.promise;
  const terminated = await runtime.terminate(cellId);
  assert.deepEqual(terminated, {
    kind: 'terminated',
    cellId,
    items: [{ type: 'text', text: 'x' }],
    reason: 'requested',
  });
  assert.equal(await initialEvent, terminated);
});
