// SPEC §16: every call a delegate gets carries an idempotency key — `<session key>:<cell id>:<call
// id>` — the same when the call is made again: a call approved after its cell paused, a session
// resumed from its snapshot, a cell replayed on another host (replay.test.ts checks that one); and
// never another call's, across every lifetime of a session key kept in a store (cell ids go on).
// Upstream MCP tools get the key in `_meta`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HostClient, SessionBuilder } from '../host/index.js';
import { connectInProcess } from '../host/in-process.js';
import { memoryStore, SessionRuntime } from '../src/index.js';
import {
  approvals,
  APPROVAL_TOOLS,
  capturingLogger,
  LONG_WAIT,
  newRuntime,
  RecordingDelegate,
  texts,
} from './helpers.js';
import { bothKinds, inProcess } from './sessions.js';

const keysOf = (delegate: RecordingDelegate): string[] => delegate.calls.map((call) => call.idempotencyKey);

for (const kind of bothKinds) {
  describe(`${kind.name}: idempotency keys`, { timeout: 60_000 }, () => {
    test('each call carries <session key>:<cell id>:<call id>; a session has a random key unless given one', async (t) => {
      const delegate = approvals();
      const random = await kind.open(t, delegate, { tools: APPROVAL_TOOLS });
      assert.match(random.key, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      const given = await kind.open(t, delegate, { tools: APPROVAL_TOOLS, key: 'agent-7/chat:42' });
      assert.equal(given.key, 'agent-7/chat:42');
      const source = 'await Promise.all([tools.get({ n: 1 }), tools.get({ n: 2 })]); await tools.get({ n: 3 })';
      await (
        await given.execute({ source }, LONG_WAIT)
      ).initialEvent;
      await (
        await random.execute({ source: 'await tools.get({ n: 1 })' }, LONG_WAIT)
      ).initialEvent;
      assert.deepEqual(keysOf(delegate), [
        'agent-7/chat:42:1:tool-1',
        'agent-7/chat:42:1:tool-2',
        'agent-7/chat:42:1:tool-3',
        `${random.key}:1:tool-1`,
      ]);
    });

    test('a call approved after its cell paused is made with the key it was first asked with', async (t) => {
      const delegate = approvals();
      delegate.tools.approve = (call) => {
        if (call.approved !== true) return approvals().tools.approve?.(call, new AbortController().signal);
        return { done: call.idempotencyKey };
      };
      const session = await kind.open(t, delegate, { tools: APPROVAL_TOOLS, key: 'k1' });
      const started = await session.execute({ source: 'text((await tools.approve({ what: "deploy" })).done)' });
      assert.equal((await started.initialEvent).kind, 'interrupted');
      const resumed = await session.resumeCell(started.cellId, { approved: true }, LONG_WAIT);
      assert.deepEqual(texts(resumed), ['k1:1:tool-1']);
      assert.deepEqual(
        delegate.calls.map((call) => [call.approved === true, call.idempotencyKey]),
        [
          [false, 'k1:1:tool-1'],
          [true, 'k1:1:tool-1'],
        ],
      );
    });
  });
}

describe('session keys', { timeout: 60_000 }, () => {
  test('a key that is not 1-200 letters, digits or _ . : / @ - is refused, as is a non-boolean idempotent', async () => {
    const delegate = new RecordingDelegate();
    for (const key of ['', 'two words', 'x'.repeat(201), 7])
      assert.throws(() => new SessionRuntime(delegate, { key: key as string }), {
        code: 'ERR_INVALID_REQUEST',
        message: /options\.key must be 1-200 letters, digits or _ \. : \/ @ -/,
      });
    assert.throws(() => new SessionRuntime(delegate, { tools: [{ name: 'pay', idempotent: 'yes' as never }] }), {
      code: 'ERR_INVALID_REQUEST',
      message: 'options.tools[0].idempotent must be a boolean',
    });
    const linked = await connectInProcess({ logger: capturingLogger() });
    try {
      await assert.rejects(linked.client.createSession(delegate, { key: 'a b' }), {
        code: 'ERR_INVALID_REQUEST',
        message: /options\.key must be 1-200/,
      });
    } finally {
      await linked.close();
    }
  });

  test('a snapshot keeps the key: the resumed session calls with it, in-process and on a host', async (t) => {
    const delegate = new RecordingDelegate({ get: () => 1 });
    const session = await inProcess.open(t, delegate, { tools: [{ name: 'get', idempotent: true }], key: 'kept' });
    await (
      await session.execute({ source: 'await tools.get({})' }, LONG_WAIT)
    ).initialEvent;
    const snapshot = await (session as SessionRuntime).suspend();
    assert.equal(snapshot.options.key, 'kept');
    assert.deepEqual(snapshot.options.tools, [{ name: 'get', idempotent: true }]);
    const resumed = newRuntime(t, delegate, {}, snapshot);
    assert.equal(resumed.key, 'kept');
    await (
      await resumed.execute({ source: 'await tools.get({})' }, LONG_WAIT)
    ).initialEvent;
    const linked = await connectInProcess({ logger: capturingLogger() });
    t.after(() => linked.close());
    const remote = await linked.client.resumeSession(snapshot, delegate);
    t.after(() => remote.shutdown());
    assert.equal(remote.key, 'kept');
    await (
      await remote.execute({ source: 'await tools.get({})' }, LONG_WAIT)
    ).initialEvent;
    assert.deepEqual(keysOf(delegate), ['kept:1:tool-1', 'kept:2:tool-1', 'kept:2:tool-1']);
  });

  test('a session created again under the key of one that was shut down: its calls get new keys', async (t) => {
    const store = memoryStore();
    const tools = [{ name: 'charge' }];
    const keys: string[] = [];
    const delegate = new RecordingDelegate({ charge: (call) => void keys.push(call.idempotencyKey) });
    // In process, twice; then on a host (a HostClient with the same store), twice more.
    for (let life = 0; life < 2; life++) {
      const session = new SessionRuntime(delegate, { store, key: 'chat-42', tools, logger: capturingLogger() });
      await (
        await session.execute({ source: 'await tools.charge({})' }, LONG_WAIT)
      ).initialEvent;
      await session.shutdown();
    }
    const client = await HostClient.spawn({ store, processes: 1, logger: capturingLogger() });
    t.after(() => client.close());
    for (let life = 0; life < 2; life++) {
      const session = await client.createSession(delegate, { key: 'chat-42', tools });
      await (
        await session.execute({ source: 'await tools.charge({})' }, LONG_WAIT)
      ).initialEvent;
      await session.shutdown();
    }
    // Cell ids go on from one lifetime to the next: no two charges share a key.
    assert.deepEqual(keys, ['chat-42:1:tool-1', 'chat-42:2:tool-1', 'chat-42:3:tool-1', 'chat-42:4:tool-1']);
  });

  test('an upstream MCP tool gets the call’s key in _meta', async (t) => {
    const upstream = fileURLToPath(new URL('./fixtures/keyed-upstream.js', import.meta.url));
    const session = await new SessionBuilder({ logger: capturingLogger(), key: 'shop' })
      .withMcpServer({ name: 'payments', command: process.execPath, args: [upstream], stderr: 'ignore' })
      .start();
    t.after(() => session.shutdown());
    assert.equal(session.key, 'shop');
    const cell = await session.execute({ source: 'text(await tools.payments__charge({ cents: 250 }))' });
    assert.equal((await cell.readText()).trim(), 'charged 250 under shop:1:tool-1');
  });
});
