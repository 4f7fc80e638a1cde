// SessionRuntime, continued from session-runtime.test.ts: stored values, exit, imports, shutdown,
// bad input, output helpers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionRuntime } from '../src/index.js';
import { capturingLogger, hang, ms, newRuntime, RecordingDelegate, texts } from './helpers.js';

const ADD = [{ name: 'add', description: 'adds two numbers' }];

test('stored values reach later cells of the same session only, as deep copies', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const other = newRuntime(t, new RecordingDelegate());
  await (
    await runtime.execute({ source: 'store("k", 1); store("o", {a:[1]})' })
  ).initialEvent;
  const second = await (
    await runtime.execute({ source: 'text(load("k")); const o = load("o"); o.a.push(2); text(load("o"))' })
  ).initialEvent;
  assert.deepEqual(texts(second), ['1', '{"a":[1]}']);
  assert.deepEqual(texts(await (await other.execute({ source: 'text(load("k"))' })).initialEvent), ['undefined']);
});

test('a terminated cell discards its writes and a failed cell commits them', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const spinning = await runtime.execute({ source: 'store("t", 1); while (true) {}' }, { kind: 'yieldAfter', ms: 20 });
  await spinning.initialEvent;
  await runtime.terminate(spinning.cellId);
  const failed = await (await runtime.execute({ source: 'store("f", 2); throw new Error("x")' })).initialEvent;
  assert.equal(failed.kind, 'completed');
  assert.deepEqual(texts(await (await runtime.execute({ source: 'text(load("t")); text(load("f"))' })).initialEvent), [
    'undefined',
    '2',
  ]);
});

test('each cell sees the snapshot taken when it was admitted', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  await (
    await runtime.execute({ source: 'store("k", "old")' })
  ).initialEvent;
  const reader = await runtime.execute(
    { source: 'await new Promise(r => setTimeout(r, 50)); text(load("k"))' },
    { kind: 'yieldAfter', ms: 0 },
  );
  await (
    await runtime.execute({ source: 'store("k", "new")' })
  ).initialEvent;
  assert.deepEqual(texts(await runtime.observe(reader.cellId, { kind: 'yieldAfter', ms: 60_000 })), ['old']);
});

test('store() refuses values that are not JSON, and store/load are absent when disabled', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const event = await (
    await runtime.execute({
      source:
        'for (const v of [() => 1, undefined, 1n, Symbol("s")]) { try { store("k", v); text("stored") } catch (e) { text(e.name) } }',
    })
  ).initialEvent;
  assert.deepEqual(texts(event), ['TypeError', 'TypeError', 'TypeError', 'TypeError']);
  const disabled = newRuntime(t, new RecordingDelegate(), { storedValues: 'disabled' });
  assert.deepEqual(
    texts(await (await disabled.execute({ source: 'text(typeof store); text(typeof load)' })).initialEvent),
    ['undefined', 'undefined'],
  );
});

test('exit() completes the cell without error and stops it', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const event = await (await runtime.execute({ source: 'text("a"); exit(); text("b")' })).initialEvent;
  assert.equal(event.kind, 'completed');
  assert.deepEqual(texts(event), ['a']);
  assert.equal('error' in event, false);
});

test('an import fails the cell with "Unsupported import in cell: <specifier>"', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const event = await (await runtime.execute({ source: 'import fs from "fs";\ntext(1)' })).initialEvent;
  assert.equal(event.kind, 'completed');
  assert.match(event.kind === 'completed' ? (event.error ?? '') : '', /Unsupported import in cell: fs/);
});

test('Node globals and shared-memory primitives are absent, and constructor chains stay in the isolate', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const event = await (
    await runtime.execute({
      source: [
        'text([typeof globalThis.process, typeof require, typeof SharedArrayBuffer, typeof Atomics, typeof WebAssembly].join(","));',
        'try { text(String(this.constructor.constructor("return typeof process")())) } catch (e) { text("blocked " + e.name) }',
        'text(Function("return typeof globalThis.process")())',
      ].join('\n'),
    })
  ).initialEvent;
  assert.deepEqual(texts(event), [
    'undefined,undefined,undefined,undefined,undefined',
    'blocked TypeError',
    'undefined',
  ]);
});

test('shutdown ends a CPU-bound cell and a cell awaiting a tool, and refuses new cells', async (t) => {
  const delegate = new RecordingDelegate({ add: hang });
  const runtime = new SessionRuntime(delegate, { tools: ADD, logger: capturingLogger() });
  t.after(() => runtime.shutdown());
  const spinning = await runtime.execute({ source: 'while (true) {}' }, { kind: 'yieldAfter', ms: 60_000 });
  const waiting = await runtime.execute({ source: 'await tools.add({})' }, { kind: 'yieldAfter', ms: 60_000 });
  const first = runtime.shutdown();
  const second = runtime.shutdown();
  assert.equal(runtime.isAlive, false);
  await assert.rejects(runtime.execute({ source: 'text(1)' }), { code: 'ERR_SHUTTING_DOWN' });
  assert.equal(first, second, 'concurrent shutdowns share one promise, so they resolve together');
  await Promise.all([first, second]);
  assert.deepEqual((await spinning.initialEvent).kind, 'terminated');
  assert.deepEqual(await waiting.initialEvent, {
    kind: 'terminated',
    cellId: waiting.cellId,
    items: [],
    reason: 'shutdown',
  });
  assert.deepEqual([...delegate.closed].sort(), [spinning.cellId, waiting.cellId].sort());
  await runtime.shutdown();
  assert.equal(delegate.closed.length, 2);
});

test('an execute still being admitted when shutdown begins rejects with ERR_SHUTTING_DOWN', async (t) => {
  const runtime = new SessionRuntime(new RecordingDelegate(), { logger: capturingLogger() });
  t.after(() => runtime.shutdown());
  const admitting = runtime.execute({ source: 'text(1)' });
  const shutdown = runtime.shutdown();
  await assert.rejects(admitting, { code: 'ERR_SHUTTING_DOWN' });
  await shutdown;
});

test('Symbol.asyncDispose shuts the session down', async (t) => {
  const delegate = new RecordingDelegate();
  const runtime = new SessionRuntime(delegate, { logger: capturingLogger() });
  t.after(() => runtime.shutdown());
  const { cellId } = await runtime.execute({ source: 'while (true) {}' }, { kind: 'yieldAfter', ms: 0 });
  await runtime[Symbol.asyncDispose]();
  assert.equal(runtime.isAlive, false);
  assert.deepEqual(delegate.closed, [cellId]);
});

test('bad requests reject with ERR_INVALID_REQUEST and the session keeps working', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const bad: [unknown, unknown][] = [
    [{ source: '' }, undefined],
    [{ source: '   ' }, undefined],
    [{ source: 42 }, undefined],
    [null, undefined],
    [{ source: 'text(1)', language: 'cobol' }, undefined],
    [{ source: 'text(1)', limits: { memoryMb: -1 } }, undefined],
    [{ source: 'text(1)', limits: { bogus: 1 } }, undefined],
    [{ source: 'text(1)', tools: [{ name: '' }] }, undefined],
    [{ source: 'text(1)' }, { kind: 'yieldAfter', ms: -1 }],
    [{ source: 'text(1)' }, { kind: 'yieldAfter', ms: Number.NaN }],
    [{ source: 'text(1)' }, { kind: 'sometime' }],
  ];
  for (const [request, mode] of bad) {
    await assert.rejects(
      runtime.execute(request as never, mode as never),
      { code: 'ERR_INVALID_REQUEST' },
      JSON.stringify(request),
    );
  }
  await assert.rejects(runtime.observe('1', { kind: 'later' } as never), { code: 'ERR_MISSING_CELL' });
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'await new Promise(r => setTimeout(r, 10_000))' },
    { kind: 'yieldAfter', ms: 0 },
  );
  await initialEvent;
  await assert.rejects(runtime.observe(cellId, { kind: 'later' } as never), { code: 'ERR_INVALID_REQUEST' });
  await assert.rejects(runtime.observe(cellId, { kind: 'yieldAfter', ms: -5 }), { code: 'ERR_INVALID_REQUEST' });
  await runtime.terminate(cellId);
  assert.deepEqual(texts(await (await runtime.execute({ source: 'text("still fine")' })).initialEvent), ['still fine']);
});

test('bad constructor arguments are refused with ERR_INVALID_REQUEST', () => {
  assert.throws(() => new SessionRuntime(null as never), { code: 'ERR_INVALID_REQUEST' });
  assert.throws(() => new SessionRuntime({ invokeTool: async () => 1 } as never), { code: 'ERR_INVALID_REQUEST' });
  const delegate = new RecordingDelegate();
  assert.throws(() => new SessionRuntime(delegate, { callbackAbortDeadlineMs: -1 }), { code: 'ERR_INVALID_REQUEST' });
  assert.throws(() => new SessionRuntime(delegate, { storedValues: 'maybe' as never }), {
    code: 'ERR_INVALID_REQUEST',
  });
  assert.throws(() => new SessionRuntime(delegate, { tools: [{ name: 'a-b' }, { name: 'a_b' }] }), {
    code: 'ERR_INVALID_REQUEST',
  });
});

test('a forgotten await completes the cell with a warning naming the dangling call', async (t) => {
  const delegate = new RecordingDelegate({ add: hang });
  const runtime = newRuntime(t, delegate, { tools: ADD });
  const event = await (await runtime.execute({ source: 'tools.add({a:1}); text("done")' })).initialEvent;
  assert.equal(event.kind, 'completed');
  assert.deepEqual(texts(event), ['done', 'Warning: 1 tool call(s) were still running when the cell finished: tool-1']);
  assert.equal(delegate.signals[0]?.aborted, true);
});

test('cell ids are unique within a session and toolCallId defaults to exec-<cellId>', async (t) => {
  const delegate = new RecordingDelegate();
  const runtime = newRuntime(t, delegate);
  const a = await runtime.execute({ source: 'notify("one")' });
  const b = await runtime.execute({ source: 'notify("two")', toolCallId: 'call_42' });
  await Promise.all([a.initialEvent, b.initialEvent]);
  assert.notEqual(a.cellId, b.cellId);
  const byText = [...delegate.notifications].sort((x, y) => x.text.localeCompare(y.text));
  assert.deepEqual(byText, [
    { cellId: a.cellId, callId: `exec-${a.cellId}`, text: 'one' },
    { cellId: b.cellId, callId: 'call_42', text: 'two' },
  ]);
});

test('image() accepts data URLs, image_url objects and MCP blocks, and refuses remote URLs', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const event = await (
    await runtime.execute({
      source: [
        'image("data:image/png;base64,AAA");',
        'image({ image_url: "data:image/png;base64,BBB", detail: "LOW" });',
        'image({ type: "image", data: "CCC", mimeType: "image/jpeg" }, "original");',
        'for (const bad of [() => image("https://x/y.png"), () => image("data:image/png;base64,A", "huge")]) { try { bad() } catch (e) { text(e.name) } }',
      ].join('\n'),
    })
  ).initialEvent;
  assert.deepEqual(event.items, [
    { type: 'image', imageUrl: 'data:image/png;base64,AAA', detail: 'high' },
    { type: 'image', imageUrl: 'data:image/png;base64,BBB', detail: 'low' },
    { type: 'image', imageUrl: 'data:image/jpeg;base64,CCC', detail: 'original' },
    { type: 'text', text: 'TypeError' },
    { type: 'text', text: 'TypeError' },
  ]);
});

test('notify() sends text to the delegate without adding output, and refuses blank text', async (t) => {
  const delegate = new RecordingDelegate();
  const runtime = newRuntime(t, delegate);
  const event = await (
    await runtime.execute({ source: 'notify({step: 1}); try { notify("  ") } catch (e) { text(e.name) }' })
  ).initialEvent;
  assert.deepEqual(texts(event), ['TypeError']);
  assert.deepEqual(
    delegate.notifications.map((n) => n.text),
    ['{"step":1}'],
  );
});

test('console methods append text items with their arguments joined by a space', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const event = await (
    await runtime.execute({ source: 'console.log("a", 1, {b:2}); console.error("e"); console.warn(null)' })
  ).initialEvent;
  assert.deepEqual(texts(event), ['a 1 { b: 2 }', 'e', 'null']);
});

test('a pending timer alone does not keep the cell alive', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const event = await (
    await runtime.execute({ source: 'setTimeout(() => text("late"), 50); text("now")' })
  ).initialEvent;
  assert.deepEqual(texts(event), ['now']);
});

test('a CPU-bound cell does not delay the yield timer or tool calls of another session', async (t) => {
  const spinner = newRuntime(t, new RecordingDelegate());
  const worker = newRuntime(t, new RecordingDelegate({ add: () => 2 }), { tools: ADD });
  await spinner.execute({ source: 'while (true) {}' }, { kind: 'yieldAfter', ms: 0 });
  const start = performance.now();
  const started = await worker.execute(
    { source: 'text(await tools.add({})); await new Promise((r) => setTimeout(r, 60_000))' },
    { kind: 'yieldAfter', ms: 300 },
  );
  const event = await started.initialEvent;
  const elapsed = ms(start);
  assert.deepEqual({ kind: event.kind, texts: texts(event) }, { kind: 'yielded', texts: ['2'] });
  // The yield fires on time: not before it is due, and not held back by the spinning isolate.
  assert.ok(elapsed >= 295 && elapsed < 3_000, `yielded after ${elapsed} ms`);
  await worker.terminate(started.cellId);
});
