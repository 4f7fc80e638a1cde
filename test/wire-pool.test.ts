// The lean wire (frames written whole, batched per turn) and the pool of host processes behind
// one HostClient (issue 17).
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { HostClient } from '../host/index.js';
import { FramedReader, FramedWriter } from '../host/wire/framing.js';
import type { Message } from 'vscode-jsonrpc';
import { capturingLogger, RecordingDelegate, texts } from './helpers.js';
import { HOST_BIN } from './sessions.js';

/** A writable that records each write it is given. */
function recordingOutput(): Writable & { writes: string[] } {
  const writes: string[] = [];
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString('utf8'));
      done();
    },
  });
  return Object.assign(output, { writes });
}

test('messages written in the same turn leave in one write, each frame whole, and read back in order', async () => {
  const output = recordingOutput();
  const writer = new FramedWriter(output, { written: () => {}, lost: (error) => assert.fail(error) });
  const sent = [1, 2, 3].map((id) => writer.write({ jsonrpc: '2.0', id, result: { text: 'é'.repeat(id) } } as Message));
  await Promise.all(sent);
  assert.equal(output.writes.length, 1, 'one write for the batch');
  await writer.write({ jsonrpc: '2.0', method: 'later' } as Message);
  assert.equal(output.writes.length, 2, 'a message of a later turn leaves in its own write');
  // Two callbacks of one phase of the loop (immediates queued together run in the same check
  // phase), each followed by its own microtasks, as the calls out of an isolate arrive: their
  // messages still leave together.
  const callbacks = [3, 4].map(
    (id) => new Promise((resolve) => setImmediate(() => resolve(writer.write({ jsonrpc: '2.0', id } as Message)))),
  );
  await Promise.all(await Promise.all(callbacks));
  assert.equal(output.writes.length, 3, 'the messages of one turn of the loop leave in one write');

  const input = new PassThrough();
  const read: unknown[] = [];
  const reader = new FramedReader(input, {
    body: (text) => JSON.parse(text) as Message,
    malformed: (reason) => assert.fail(reason),
  });
  reader.listen((message) => read.push(message));
  for (const write of output.writes) input.write(write);
  assert.deepEqual(
    read,
    [1, 2, 3]
      .map((id) => ({ jsonrpc: '2.0', id, result: { text: 'é'.repeat(id) } }))
      .concat([
        { jsonrpc: '2.0', method: 'later' },
        { jsonrpc: '2.0', id: 3 },
        { jsonrpc: '2.0', id: 4 },
      ] as never[]),
  );
});

test('a writer whose pipe broke reports it once and never throws', async () => {
  const output = new Writable({
    write: (_chunk, _encoding, done) => done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })),
  });
  const lost: Error[] = [];
  const writer = new FramedWriter(output, { written: () => {}, lost: (error) => lost.push(error) });
  await writer.write({ jsonrpc: '2.0', method: 'a' } as Message);
  await writer.write({ jsonrpc: '2.0', method: 'b' } as Message);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(lost.length, 1);
  assert.match(lost[0]?.message ?? '', /EPIPE/);
});

test('HostClient.spawn({ processes: 2 }) spreads sessions over two hosts; a dead host takes only its own sessions and is replaced', async (t) => {
  const client = await HostClient.spawn({
    command: HOST_BIN,
    args: [],
    processes: 2,
    logger: capturingLogger(),
    stderr: 'ignore',
  });
  t.after(() => client.close());
  assert.equal(client.pids.length, 2);
  const delegate = new RecordingDelegate();
  const sessions = await Promise.all([1, 2, 3, 4].map(() => client.createSession(delegate)));
  const byHost = new Map<number | undefined, typeof sessions>();
  for (const session of sessions) byHost.set(session.hostPid, [...(byHost.get(session.hostPid) ?? []), session]);
  assert.deepEqual([...byHost.keys()].sort(), [...client.pids].sort(), 'sessions on both hosts');
  assert.deepEqual(
    [...byHost.values()].map((group) => group.length),
    [2, 2],
    'two sessions each',
  );

  const [doomedPid, survivorPid] = client.pids as [number, number];
  const doomed = byHost.get(doomedPid) ?? [];
  const running = await Promise.all(
    doomed.map(async (session) => {
      const { cellId, initialEvent } = await session.execute(
        { source: 'await new Promise(() => {})' },
        { kind: 'yieldAfter', ms: 0 },
      );
      assert.equal((await initialEvent).kind, 'yielded');
      return cellId;
    }),
  );
  const waits = doomed.map((session, i) => session.observe(running[i] ?? '', { kind: 'yieldAfter', ms: 60_000 }));
  process.kill(doomedPid, 'SIGKILL');
  for (const wait of waits) await assert.rejects(wait, { code: 'ERR_HOST_EXITED' });
  for (const session of byHost.get(survivorPid) ?? []) {
    assert.deepEqual(texts(await (await session.execute({ source: 'text("still here")' })).initialEvent), [
      'still here',
    ]);
  }
  const fresh = await client.createSession(delegate);
  assert.notEqual(fresh.hostPid, doomedPid);
  assert.notEqual(
    fresh.hostPid,
    survivorPid,
    'the new session went to the replacement host (it had the fewest sessions)',
  );
  assert.deepEqual(texts(await (await fresh.execute({ source: 'text("fresh")' })).initialEvent), ['fresh']);
  assert.equal(client.pids.length, 2);
});

test('processes must be a positive integer', async () => {
  await assert.rejects(HostClient.spawn({ processes: 0 }), { code: 'ERR_INVALID_REQUEST' });
  await assert.rejects(HostClient.spawn({ processes: 1.5 }), { code: 'ERR_INVALID_REQUEST' });
});
