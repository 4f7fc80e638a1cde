// A cell's seat at its session's run gate (src/isolate/run-gate.ts): its tasks (tool results,
// timers) enter at once while a slot is free, in order; with every slot held they wait for one
// and count as waiting; a stopped cell's tasks never enter.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GateSeat, RunGate } from '../src/isolate/run-gate.js';

const turnEnd = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('GateSeat', { timeout: 10_000 }, () => {
  test('a task enters at once while a slot is free, and the cell holds the slot until it is idle', () => {
    const gate = new RunGate(1);
    const seat = new GateSeat(gate);
    const entered: number[] = [];
    for (const n of [1, 2, 3]) seat.enter(() => entered.push(n));
    assert.deepEqual(entered, [1, 2, 3], 'in the order given');
    assert.equal(seat.waiting, false);
    assert.equal(gate.executing, 1, 'one slot for the cell, however many tasks');
    seat.idle();
    assert.equal(gate.executing, 0);
  });

  test('with every slot held they wait for one, in order, and count as waiting', () => {
    const gate = new RunGate(1);
    const holder = new GateSeat(gate);
    holder.enter(() => {});
    const seat = new GateSeat(gate);
    const entered: string[] = [];
    seat.enter(() => entered.push('first'));
    seat.enter(() => entered.push('second'));
    assert.deepEqual(entered, [], 'the only slot is held');
    assert.equal(seat.waiting, true, 'the isolate is not idle while they wait');
    holder.idle();
    assert.deepEqual(entered, ['first', 'second']);
    assert.equal(seat.waiting, false);
    assert.equal(gate.executing, 1);
  });

  test('a seat that leaves drops what waited and gives its place in line up', async () => {
    const gate = new RunGate(1);
    const holder = new GateSeat(gate);
    holder.enter(() => {});
    const seat = new GateSeat(gate);
    let entered = false;
    seat.enter(() => (entered = true));
    seat.leave();
    assert.equal(seat.waiting, false);
    assert.equal(gate.waiting, 0);
    holder.idle();
    await turnEnd();
    assert.equal(entered, false);
    assert.equal(gate.executing, 0);
  });
});
