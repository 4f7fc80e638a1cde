// readByTurn: a cell's events are relayed a turn of the event loop at a time, so whatever a cell
// sends in one burst (one task of isolated-vm's message loop) costs the burst a queue push per
// event and nothing else (hardening v4: progress must never change a cell's outcome).
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { test } from 'node:test';
import { readByTurn } from '../src/internal.js';
import { EventStream } from '../src/streams/event-stream.js';

const source = { replace: () => {}, remove: () => {} };
const microtasks = async (count: number): Promise<void> => {
  for (let i = 0; i < count; i++) await Promise.resolve();
};

test('events pushed in one burst reach the reader only after the loop turns, all of them, in order', async () => {
  const stream = new EventStream<number>(source);
  const seen: number[] = [];
  const done = readByTurn(stream, (event) => seen.push(event));
  stream.push(0);
  await microtasks(10);
  assert.deepEqual(seen, [0]);
  // A burst: the reader's microtasks get no event of it before a macrotask.
  for (let i = 1; i <= 1_000; i++) {
    stream.push(i);
    await microtasks(3);
  }
  assert.deepEqual(seen, [0]);
  await nextTurn();
  await microtasks(2_100);
  assert.equal(seen.length, 1_001);
  assert.deepEqual(
    seen,
    Array.from({ length: 1_001 }, (_, i) => i),
  );
  stream.close();
  await done;
});

test('the reader stops when asked, and ends with its stream', async () => {
  const stream = new EventStream<number>(source);
  const seen: number[] = [];
  let going = true;
  const done = readByTurn(
    stream,
    (event) => seen.push(event),
    () => going,
  );
  stream.push(1);
  await nextTurn();
  going = false;
  stream.push(2);
  await done;
  assert.deepEqual(seen, [1]);
});
