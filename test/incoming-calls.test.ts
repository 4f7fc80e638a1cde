// The client's side of the host's delegate calls (host/client/incoming-calls.ts): a cell's calls
// of one method share one AbortSignal, a cancelled call is never answered and a cancelled group
// is never reused, and a cell's groups go when the cell closes (nothing outlives its session).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IncomingCalls } from '../host/client/incoming-calls.js';
import { JsonText } from '../host/wire/rpc.js';
import type { IncomingRequest } from '../host/wire/protocol.js';

const answered: string[] = [];
const settle = { answer: (result: JsonText) => void answered.push(result.text), fail: () => {} };

/** A request as the engine hands it over: forget() marks it given up. */
function request(id: number): IncomingRequest & { forgotten: boolean } {
  return {
    id,
    signal: new AbortController().signal,
    open: true,
    forgotten: false,
    forget() {
      this.forgotten = true;
    },
  };
}

const open = (incoming: IncomingCalls, id: number, cellId: string, method: 'tool/invoke' | 'cell/notify') => {
  const req = request(id);
  return { req, call: incoming.open(req, method, { sessionId: 's1', cellId }, {}, settle) };
};

test("a cell's sequential calls share one signal until a cell/cancel; a call after it gets a fresh one", () => {
  const incoming = new IncomingCalls();
  const first = open(incoming, 1, 'c1', 'tool/invoke');
  first.call.answer(new JsonText('{"value":1}'));
  const second = open(incoming, 2, 'c1', 'tool/invoke');
  assert.equal(second.call.signal, first.call.signal, 'the group is kept for the cell’s next call');
  assert.equal(open(incoming, 3, 'c1', 'cell/notify').call.signal === first.call.signal, false, 'per method');
  assert.equal(incoming.cancel('s1', 'c1', 'tool/invoke').length, 0);
  assert.equal(second.call.signal.aborted, true);
  assert.equal(second.req.forgotten, true, 'a cancelled call is forgotten by the engine: never answered');
  assert.equal(first.req.forgotten, false, 'an answered one is not touched');
  const third = open(incoming, 4, 'c1', 'tool/invoke');
  assert.equal(third.call.signal.aborted, false, 'a cancelled group is not reused');
});

test("a closed cell's groups go; a busy cell's stay", () => {
  const incoming = new IncomingCalls();
  const busy = open(incoming, 0, 'busy-cell', 'tool/invoke');
  for (let cell = 0; cell < 2_000; cell++) {
    open(incoming, cell + 1, `c${cell}`, 'tool/invoke').call.answer(new JsonText('null'));
    incoming.cellClosed('s1', `c${cell}`);
  }
  assert.equal(incoming.cells, 1, `${incoming.cells} cells kept after 2 000 closed`);
  assert.equal(busy.call.signal.aborted, false);
  assert.equal(incoming.cancel('s1', 'busy-cell', 'tool/invoke').length, 0);
  assert.equal(busy.call.signal.aborted, true);
});

test('a cancel waits for the delegates still running, not those that settled and answered', async () => {
  const incoming = new IncomingCalls();
  const answeredCall = open(incoming, 1, 'c1', 'tool/invoke').call;
  answeredCall.started();
  answeredCall.finished();
  answeredCall.answer(new JsonText('{"value":1}'));
  const hanging = open(incoming, 2, 'c1', 'tool/invoke').call;
  hanging.started();
  const running = incoming.cancel('s1', 'c1', 'tool/invoke');
  assert.equal(running.length, 1, 'one promise for the group');
  assert.equal(hanging.signal.aborted, true);
  assert.equal(hanging.wanted, true, 'a cancelled call of a live session still tells its ledger its outcome');
  let settled = false;
  void running[0]?.then(() => (settled = true));
  await new Promise(setImmediate);
  assert.equal(settled, false, 'the hanging delegate is waited for');
  hanging.finished();
  await new Promise(setImmediate);
  assert.equal(settled, true);
  // None running when the group is cancelled: nothing to wait for.
  open(incoming, 3, 'c2', 'tool/invoke').call.started();
  const late = open(incoming, 4, 'c3', 'tool/invoke').call;
  assert.deepEqual(incoming.cancel('s1', 'c3', 'tool/invoke'), []);
  late.started();
  late.finished();
});

test("a session's shutdown aborts its calls and forgets its cells; another session's are untouched", () => {
  const incoming = new IncomingCalls();
  const mine = open(incoming, 1, 'c1', 'tool/invoke');
  const other = incoming.open(request(2), 'tool/invoke', { sessionId: 's2', cellId: 'c1' }, {}, settle);
  void incoming.abortSession('s1', Object.assign(new Error('shutting down'), { code: 'ERR_SHUTTING_DOWN' }) as never);
  assert.equal(mine.call.signal.aborted, true);
  assert.equal(mine.req.forgotten, true);
  assert.equal(mine.call.wanted, false, 'nobody takes its outcome');
  assert.equal(other.wanted, true);
  assert.equal(other.signal.aborted, false);
  assert.equal(incoming.cells, 1);
  // The host gone: calls abort, and their outcomes still reach the ledger.
  incoming.abortAll(Object.assign(new Error('host exited'), { code: 'ERR_HOST_EXITED' }) as never);
  assert.equal(other.signal.aborted, true);
  assert.equal(other.wanted, true);
});
