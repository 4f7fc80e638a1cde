import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_ISOLATE_POOL_SIZE, IsolatePool, SessionRuntime } from '../src/index.js';
import { newRuntime, RecordingDelegate, texts, waitFor } from './helpers.js';

test('warm isolates are pristine: nothing a cell does reaches a later cell', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  for (let i = 0; i < 4; i++) {
    const event = await (
      await runtime.execute({
        source: 'text(typeof globalThis.leak + " " + ({}).leak); globalThis.leak = 1; Object.prototype.leak = 2',
      })
    ).initialEvent;
    assert.deepEqual(texts(event), ['undefined undefined']);
  }
});

test('a session given a pool of its own takes its isolates there; a pool of 0 still runs cells', async (t) => {
  assert.equal(DEFAULT_ISOLATE_POOL_SIZE, 2);
  const cold = new IsolatePool({ size: 0 });
  t.after(() => cold.drain());
  assert.equal(cold.size, 0);
  const runtime = newRuntime(t, new RecordingDelegate(), { isolatePool: cold });
  assert.deepEqual(texts(await (await runtime.execute({ source: 'text("cold")' })).initialEvent), ['cold']);
  cold.setSize(1);
  assert.equal(cold.size, 1);
  assert.deepEqual(texts(await (await runtime.execute({ source: 'text("warmed")' })).initialEvent), ['warmed']);
  // The session took its isolate from this pool, which refilled itself (and only itself).
  await waitFor(() => cold.warm === 1);
});

test('pool sizes are validated, and so is the isolatePool option', () => {
  for (const size of [-1, 1.5, Number.NaN, '2']) {
    assert.throws(() => new IsolatePool({ size: size as number }), {
      code: 'ERR_INVALID_REQUEST',
      message: 'isolate pool size must be an integer >= 0',
    });
  }
  assert.throws(() => new IsolatePool().setSize(-1), { code: 'ERR_INVALID_REQUEST' });
  assert.throws(() => new SessionRuntime(new RecordingDelegate(), { isolatePool: { take: () => null } as never }), {
    code: 'ERR_INVALID_REQUEST',
    message: 'options.isolatePool must be an IsolatePool',
  });
});

test("memoryMb is the isolate's size: 48 MB of arrays end a 16 MB cell, and fit in a 128 MB one", async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const source = 'const a = []; for (let i = 0; i < 60; i++) a.push(new Array(1e5).fill(i + 0.5)); text(a.length)';
  const small = await (await runtime.execute({ source, limits: { memoryMb: 16 } })).initialEvent;
  assert.equal(small.kind === 'terminated' && small.reason, 'memoryLimit');
  const large = await (await runtime.execute({ source, limits: { memoryMb: 128 } })).initialEvent;
  assert.deepEqual([large.kind, texts(large)], ['completed', ['60']]);
});

test('cells with a memory limit of their own get isolates of that size', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  for (const memoryMb of [16, 16, 64]) {
    const event = await (
      await runtime.execute({ source: 'const a = []; for (;;) a.push(new Array(1e5).fill(1.5))', limits: { memoryMb } })
    ).initialEvent;
    assert.equal(event.kind === 'terminated' && event.reason, 'memoryLimit');
  }
});
