// A cell's seat at its session's run gate (src/isolate/run-gate.ts): tasks given during a turn
// (tool results, timers) enter at the end of it, in order, and count as waiting until then; with
// every slot held they wait for one; a stopped cell's tasks never enter.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GateSeat, RunGate } from '../src/isolate/run-gate.js';

const turnEnd = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('GateSeat.later', { timeout: 10_000 }, () => {
  test('tasks of one turn enter at its end, in the order given, and wait until then', async () => {
    const seat = new GateSeat(new RunGate(1));
    const entered: number[] = [];
    for (const n of [1, 2, 3]) seat.later(() => entered.push(n));
    assert.deepEqual(entered, [], 'nothing entered within the turn');
    assert.equal(seat.waiting, true, 'the isolate is not idle while they wait');
    await Promise.resolve();
    assert.deepEqual(entered, [1, 2, 3]);
    assert.equal(seat.waiting, false);
  });

  test('with every slot held they wait for one, behind nothing given later', async () => {
    const gate = new RunGate(1);
    const holder = new GateSeat(gate);
    holder.enter(() => {});
    const seat = new GateSeat(gate);
    const entered: string[] = [];
    seat.later(() => entered.push('first'));
    seat.later(() => entered.push('second'));
    await turnEnd();
    assert.deepEqual(entered, [], 'the only slot is held');
    assert.equal(seat.waiting, true);
    holder.idle();
    assert.deepEqual(entered, ['first', 'second']);
    assert.equal(gate.executing, 1);
  });

  test('a seat that leaves drops what it was given this turn', async () => {
    const seat = new GateSeat(new RunGate(1));
    let entered = false;
    seat.later(() => (entered = true));
    seat.leave();
    assert.equal(seat.waiting, false);
    await turnEnd();
    assert.equal(entered, false);
  });
});
