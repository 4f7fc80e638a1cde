import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setIsolatePoolSize, DEFAULT_ISOLATE_POOL_SIZE } from '../src/index.js';
import { newRuntime, RecordingDelegate, texts } from './helpers.js';

test('warm isolates are pristine: nothing a cell does reaches a later cell', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  for (let i = 0; i < 4; i++) {
    const event = await (await runtime.execute({ source: 'text(typeof globalThis.leak + " " + ({}).leak); globalThis.leak = 1; Object.prototype.leak = 2' })).initialEvent;
    assert.deepEqual(texts(event), ['undefined undefined']);
  }
});

test('a pool of 0 still runs cells, and the size can be set back', async (t) => {
  assert.equal(DEFAULT_ISOLATE_POOL_SIZE, 2);
  setIsolatePoolSize(0);
  t.after(() => setIsolatePoolSize(DEFAULT_ISOLATE_POOL_SIZE));
  const runtime = newRuntime(t, new RecordingDelegate());
  assert.deepEqual(texts(await (await runtime.execute({ source: 'text("cold")' })).initialEvent), ['cold']);
  assert.throws(() => setIsolatePoolSize(-1), RangeError);
});

test('cells with a memory limit of their own get isolates of that size', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  for (const memoryMb of [16, 16, 64]) {
    const event = await (await runtime.execute({ source: 'const a = []; for (;;) a.push(new Array(1e5).fill(1.5))', limits: { memoryMb } })).initialEvent;
    assert.equal(event.kind === 'terminated' && event.reason, 'memoryLimit');
  }
});
