// The flood guard ends a cell whose messages hold Node's main thread: many messages for longer
// than the limit without the event loop turning. A slow turn with a few messages is no flood.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FloodGuard } from '../src/isolate/flood-guard.js';

function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // a turn of the event loop that takes long (a starved machine, a long GC)
  }
}

test('a few messages in a turn of the loop that took longer than the limit are no flood', () => {
  const guard = new FloodGuard(30, 100);
  let floods = 0;
  guard.onFlood = () => floods++;
  assert.equal(guard.flooding(), false);
  busyFor(40);
  for (let i = 0; i < 5; i++) assert.equal(guard.flooding(), false);
  assert.equal(floods, 0);
});

test('many messages past the limit without the loop turning are a flood, reported for each later message', () => {
  const guard = new FloodGuard(30, 100);
  let floods = 0;
  guard.onFlood = () => floods++;
  guard.flooding();
  busyFor(40);
  const verdicts = Array.from({ length: 150 }, () => guard.flooding());
  assert.equal(verdicts.indexOf(true), 99, 'the 100th message after the first is the flood');
  assert.equal(floods, 51);
});

test('the run starts again once the event loop turned', async () => {
  const guard = new FloodGuard(30, 1);
  guard.flooding();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(guard.flooding(), false, 'a new run: its first message');
  assert.equal(guard.flooding(), false, 'within the limit');
});
