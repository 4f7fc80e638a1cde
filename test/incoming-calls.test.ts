// The client's side of the host's delegate calls (host/client/incoming-calls.ts): a cell's calls
// of one method share one AbortSignal, a cancelled group is never reused, and emptied groups are
// swept so that a long-lived client keeps a bounded number of them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IncomingCalls } from '../host/client/incoming-calls.js';

const answered: unknown[] = [];
const calls = (): IncomingCalls => new IncomingCalls((message) => answered.push(message));

test("a cell's sequential calls share one signal until a cell/cancel; a call after it gets a fresh one", () => {
  const incoming = calls();
  const first = incoming.open(1, 'tool/invoke', 's1', 'c1', {});
  first.answer({ value: 1 });
  const second = incoming.open(2, 'tool/invoke', 's1', 'c1', {});
  assert.equal(second.signal, first.signal, 'the emptied group is kept for the next call');
  assert.equal(incoming.open(3, 'cell/notify', 's1', 'c1', {}).signal === first.signal, false, 'per method');
  assert.equal(incoming.cancel('s1', 'c1', 'tool/invoke').length, 0);
  assert.equal(second.signal.aborted, true);
  const before = answered.length;
  second.answer({ value: 2 });
  assert.equal(answered.length, before, 'a cancelled call is never answered');
  const third = incoming.open(4, 'tool/invoke', 's1', 'c1', {});
  assert.equal(third.signal.aborted, false, 'a cancelled group is not reused');
  third.answer({ value: 3 });
  assert.equal(answered.length, before + 1);
});

test('emptied groups of many cells are swept; busy ones stay', () => {
  const incoming = calls();
  const busy = incoming.open('busy', 'tool/invoke', 's1', 'busy-cell', {});
  for (let cell = 0; cell < 2_000; cell++) incoming.open(cell, 'tool/invoke', 's1', `c${cell}`, {}).answer(null);
  assert.ok(incoming.groups <= 257, `${incoming.groups} groups kept after 2 000 cells`);
  assert.equal(busy.signal.aborted, false);
  assert.equal(incoming.cancel('s1', 'busy-cell', 'tool/invoke').length, 0);
  assert.equal(busy.signal.aborted, true, 'the busy group survived the sweeps');
});

test('a cancel returns the delegates still running, not those that settled and answered', () => {
  const incoming = calls();
  const answeredCall = incoming.open(1, 'tool/invoke', 's1', 'c1', {});
  const settled = Promise.resolve({ value: 1 });
  answeredCall.running(settled);
  answeredCall.answer({ value: 1 });
  const hanging = incoming.open(2, 'tool/invoke', 's1', 'c1', {});
  const never = new Promise<never>(() => {});
  hanging.running(never);
  assert.deepEqual(incoming.cancel('s1', 'c1', 'tool/invoke'), [never]);
  assert.equal(hanging.signal.aborted, true);
});
