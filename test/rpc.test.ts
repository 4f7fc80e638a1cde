// The one JSON-RPC engine (host/wire/rpc.ts, ADR 13), pinned on the wire with literal codes: the
// same ids, validation and cancellation for every method, in both directions; and the one way
// the wire checks what a peer sent (host/wire/shape.ts).
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { checkJournalPart, checkStoredValues } from '../host/client/host-journal-shapes.js';
import { streamCarrier } from '../host/wire/framing.js';
import { Methods, type IncomingRequest } from '../host/wire/protocol.js';
import { RpcConnection } from '../host/wire/rpc.js';
import { frame, pendingCell, rawHost } from './wire.js';

const quiet = { warn: () => {}, error: () => {} };

/** Two engines linked over in-memory streams (a "client" and a "host" side), closed after the test. */
function linkedPair(t: { after(fn: () => void): void }) {
  const toHost = new PassThrough();
  const toClient = new PassThrough();
  const host = new RpcConnection(streamCarrier(toHost, toClient), quiet);
  const client = new RpcConnection(streamCarrier(toClient, toHost), quiet);
  t.after(() => {
    host.close(new Error('test over'));
    client.close(new Error('test over'));
  });
  return { host, client };
}

test('a client that cancels a request gets -32800 on the wire at once, and the handler sees its signal abort', async (t) => {
  const raw = await rawHost(t);
  const { sessionId, cellId } = await pendingCell(raw);
  const observing = raw.send('cell/observe', { sessionId, cellId, mode: { kind: 'yieldAfter', ms: 60_000 } });
  raw.write(frame(JSON.stringify({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: observing } })));
  const answer = await raw.log.next((m) => m.id === observing);
  assert.equal(answer.error?.code, -32800);
  assert.equal(answer.result, undefined);
  // The observer slot is free: the next observation is answered.
  const next = await raw.call('cell/observe', { sessionId, cellId, mode: { kind: 'yieldAfter', ms: 0 } });
  assert.equal((next.result as { kind: string }).kind, 'yielded');
  // One answer per request: the cancelled one is never answered twice.
  assert.equal(raw.log.messages.filter((m) => m.id === observing).length, 1);
});

test('params by position are -32602, an empty params object is a valid request, notifications nobody serves are dropped', async (t) => {
  const raw = await rawHost(t);
  raw.write(frame(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'host/ping', params: [] })));
  const positional = await raw.log.next((m) => m.id === 7);
  assert.equal(positional.error?.code, -32602);
  assert.match(positional.error?.message ?? '', /takes its params by name/);
  raw.write(frame(JSON.stringify({ jsonrpc: '2.0', method: 'no/such/notification', params: {} })));
  const ping = await raw.call('host/ping', {});
  assert.deepEqual(Object.keys(ping.result as object), ['load']);
  assert.equal(raw.log.messages.filter((m) => m.error !== undefined).length, 1);
});

test('requests of one signal given up together: one message of the caller, none answered, nothing left behind', async (t) => {
  const { host, client } = linkedPair(t);
  const heard: string[] = [];
  let answered = 0;
  client.serve({
    toolInvoke: (_params: unknown, request: IncomingRequest) =>
      new Promise((resolve) => request.signal.addEventListener('abort', () => resolve({ value: 'late' }))),
    cellNotify: () => ({}),
    cellCancel: ({ cellId }: { cellId: string }) => void heard.push(cellId),
    cellInitialEvent: () => {},
    cellEvent: () => {},
    sessionEvent: () => {},
    cellClosed: () => {},
  } as never);
  client.listen();
  host.listen();
  const controller = new AbortController();
  const call = { tool: { name: 't' }, input: {}, cellId: 'c1' } as never;
  const calls = [1, 2, 3].map(() =>
    host
      .request(
        Methods.toolInvoke,
        { sessionId: 's', call },
        {
          signal: controller.signal,
          cancelAll: () => host.notify(Methods.cellCancel, { sessionId: 's', cellId: 'c1', method: 'tool/invoke' }),
        },
      )
      .then(() => answered++),
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  controller.abort(new Error('the cell ended'));
  for (const settled of await Promise.allSettled(calls)) assert.equal(settled.status, 'rejected');
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(heard, ['c1'], 'one cell/cancel for the three calls');
  assert.equal(answered, 0);
});

test('a connection closed by what one message ran reads no message after it, not even of the same chunk', async (t) => {
  const input = new PassThrough();
  const rpc = new RpcConnection(streamCarrier(input, new PassThrough()), quiet);
  t.after(() => rpc.close(new Error('test over')));
  const heard: string[] = [];
  rpc.serve({
    cellClosed: ({ cellId }: { cellId: string }) => {
      heard.push(cellId);
      if (cellId === 'a') rpc.close(new Error('closed by what cell a ran'));
    },
  } as never);
  rpc.listen();
  const closed = (cellId: string) =>
    frame(JSON.stringify({ jsonrpc: '2.0', method: 'cell/closed', params: { sessionId: 's', cellId } }));
  input.write(Buffer.concat([closed('a'), closed('b')]));
  input.write(closed('c'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(heard, ['a']);
});

test('a request given up alone sends $/cancelRequest; its late answer is dropped and the peer answered -32800', async (t) => {
  const { host, client } = linkedPair(t);
  const aborted: unknown[] = [];
  host.serve({
    hostPing: (_params: unknown, request: IncomingRequest) =>
      new Promise((resolve) => {
        request.signal.addEventListener('abort', () => {
          aborted.push(request.signal.reason);
          resolve({ load: { sessions: 0, cellsRunning: 0, accepting: true } });
        });
      }),
  } as never);
  host.listen();
  client.listen();
  const controller = new AbortController();
  const pinging = client.request(Methods.hostPing, {}, { signal: controller.signal });
  await new Promise((resolve) => setTimeout(resolve, 20));
  controller.abort(new Error('given up'));
  await assert.rejects(pinging, /given up/);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(aborted.length, 1);
  assert.equal((aborted[0] as { code?: string }).code, 'ERR_CANCELLED');
});

test('params are checked in place against their row: a misfit is -32602 naming its field, a fit arrives as sent', async (t) => {
  const { host, client } = linkedPair(t);
  const served: unknown[] = [];
  client.serve({
    toolInvoke: (params: unknown) => (served.push(params), { value: 1 }),
    cellNotify: () => ({}),
  } as never);
  client.listen();
  host.listen();
  const call = { tool: { name: 't' }, input: { deep: [1] }, cellId: 'c1', callId: 'tool-1' };
  const sent = { sessionId: 's', call, extra: 'kept', journal: { update: { outputs: 0, notifications: 0 } } };
  assert.deepEqual(await host.request(Methods.toolInvoke, sent as never), { value: 1 });
  assert.deepEqual(served, [sent], 'what the handler gets is what was sent, other fields too');
  const refusal = (params: unknown): Promise<unknown> =>
    host.request(Methods.toolInvoke, params as never).then(
      () => assert.fail('a misfit was served'),
      (error: { code: number; message: string }) => [error.code, error.message],
    );
  assert.deepEqual(await refusal({ sessionId: '', call }), [
    -32602,
    'tool/invoke params: sessionId: expected a non-empty string',
  ]);
  assert.deepEqual(await refusal({ sessionId: 's', call, journal: [] }), [
    -32602,
    'tool/invoke params: journal: expected an object',
  ]);
  assert.deepEqual(await refusal({ sessionId: 's', call, _meta: { traceparent: 7 } }), [
    -32602,
    'tool/invoke params: _meta.traceparent: expected a string',
  ]);
  assert.equal(served.length, 1);
});

test("a host's journal part is checked in place: the first misfit by its path, a fit returned as it came", () => {
  const update = { outputs: 1, notifications: 0, deliveries: [{ kind: 'timer', id: 3 }] };
  const fit = checkJournalPart({ update });
  assert.ok('part' in fit && fit.part.update === update);
  const why = (part: unknown): string => {
    const checked = checkJournalPart(part);
    return 'why' in checked ? checked.why : 'fits';
  };
  assert.equal(
    why({ update: { ...update, deliveries: [{ kind: 'timer', id: 1 }, { kind: 'later' }] } }),
    'a journal of another shape at update.deliveries.1.kind: expected "settle" or "timer" or "answered"',
  );
  assert.equal(
    why({ update: { ...update, deliveries: [{ kind: 'settle', callId: 'tool-1', ok: 'yes' }] } }),
    'a journal of another shape at update.deliveries.0.ok: expected a boolean',
  );
  // A required field not there is named; a field not listed is not read.
  assert.equal(
    why({ update: { deliveries: [{ kind: 'settle', callId: 'tool-1', ok: true, errorKind: '' }] } }),
    'a journal of another shape at update.deliveries.0.payload: expected a string',
  );
  assert.equal(why({ update, later: { anything: [] } }), 'fits');
  assert.equal(
    why({ update: { outputs: -1, notifications: 0 } }),
    'a journal of another shape at update.outputs: expected a count (an integer ≥ 0)',
  );
  assert.equal(
    why({
      start: { code: '', filename: 'f', toolCallId: 't', tools: [], limits: { a: 'x' }, seed: 1, storedAt: null },
    }),
    'a journal of another shape at start.limits.a: expected a finite number',
  );
  assert.equal(
    why({ start: { code: '', filename: 'f', toolCallId: 't', tools: [], limits: {}, seed: 2 ** 32, storedAt: null } }),
    'a journal of another shape at start.seed: expected a seed (an integer, 0 ≤ seed < 2³²)',
  );
  assert.equal(why('no'), 'a journal of another shape: expected an object');
  assert.deepEqual(checkStoredValues({ a: '1', b: 2 }), {
    why: 'stored values of another shape at b: expected a string',
  });
});
