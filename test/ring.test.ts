// Ring: the bounded queue behind a cell's replay log and the PendingRouter's held messages. It
// grows its slots with use, so what it keeps must not depend on where its head was when it grew.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ring } from '../src/streams/ring.js';

test('a ring keeps its entries in order while it grows, wrapped or not, and evicts the oldest at its bound', () => {
  const ring = new Ring<number>(20);
  for (let i = 1; i <= 8; i++) assert.equal(ring.push(i), undefined);
  assert.equal(ring.shift(), 1);
  assert.equal(ring.shift(), 2);
  // 9 and 10 wrap to the front of the first 8 slots; 11 finds them full and grows them.
  for (let i = 9; i <= 11; i++) assert.equal(ring.push(i), undefined);
  assert.deepEqual([...ring], [3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(ring.last(), 11);
  for (let i = 12; i <= 22; i++) assert.equal(ring.push(i), undefined);
  assert.equal(ring.size, 20);
  // Full: each push gives back the oldest.
  assert.equal(ring.push(23), 3);
  assert.equal(ring.push(24), 4);
  assert.deepEqual(
    [...ring],
    Array.from({ length: 20 }, (_, i) => i + 5),
  );
  assert.equal(ring.last(), 24);
  const taken: number[] = [];
  for (let item = ring.shift(); item !== undefined; item = ring.shift()) taken.push(item);
  assert.deepEqual(
    taken,
    Array.from({ length: 20 }, (_, i) => i + 5),
  );
  assert.equal(ring.size, 0);
  assert.equal(ring.last(), undefined);
  assert.equal(ring.shift(), undefined);
});

test('a ring of one keeps the newest; a bound below one is refused', () => {
  const ring = new Ring<string>(1);
  assert.equal(ring.push('a'), undefined);
  assert.equal(ring.push('b'), 'a');
  assert.deepEqual([...ring], ['b']);
  for (const bound of [0, -1, 1.5, Number.NaN])
    assert.throws(() => new Ring(bound), {
      name: 'RangeError',
      message: `a ring holds at least 1 entry, not ${bound}`,
    });
});
