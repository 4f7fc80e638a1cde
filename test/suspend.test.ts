// Issue 52, item 4 (SPEC §13): suspend a session and resume it anywhere — in this process, on
// codecell-host, or in another host process — with the same stored values and cell ids that
// continue; bad snapshots are refused with a clear error.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HostClient } from '../host/index.js';
import { connectInProcess } from '../host/in-process.js';
import { SessionRuntime, type CodeCellSession, type SessionSnapshot } from '../src/index.js';
import { capturingLogger, RecordingDelegate, texts } from './helpers.js';
import { bothKinds, HOST_BIN } from './sessions.js';

type Suspendable = CodeCellSession & { suspend(options?: { signal?: AbortSignal }): Promise<SessionSnapshot> };

const TOOLS = [{ name: 'lookup', description: 'finds a thing' }];

/** A session with two stored values, after three cells (ids 1, 2, 3). */
async function filled(session: CodeCellSession): Promise<void> {
  for (const source of ['store("a", { n: 1 })', 'store("b", [1, "two"])', 'text(load("a").n)']) {
    assert.equal((await (await session.execute({ source })).initialEvent).kind, 'completed');
  }
}

async function readBack(session: CodeCellSession): Promise<{ cellId: string; lines: string[] }> {
  const started = await session.execute({ source: 'text(JSON.stringify([load("a"), load("b")]))' });
  return { cellId: started.cellId, lines: texts(await started.initialEvent) };
}

for (const kind of bothKinds) {
  describe(`${kind.name}: suspend and resume`, { timeout: 60_000 }, () => {
    test('suspend returns plain JSON; resumed in this process and on a host, values and ids continue', async (t) => {
      const session = (await kind.open(t, new RecordingDelegate(), { tools: TOOLS })) as Suspendable;
      await filled(session);
      const snapshot = await session.suspend();
      assert.equal(session.isAlive, false, 'a suspended session has ended');
      assert.deepEqual(JSON.parse(JSON.stringify(snapshot)), snapshot, 'plain JSON');
      assert.equal(snapshot.version, 1);
      assert.equal(snapshot.nextCellId, 4);
      assert.deepEqual(snapshot.storedValues, { a: '{"n":1}', b: '[1,"two"]' });
      assert.deepEqual(snapshot.options.tools, TOOLS);

      const here = SessionRuntime.resume(snapshot, new RecordingDelegate(), { logger: capturingLogger() });
      t.after(() => here.shutdown());
      assert.deepEqual(await readBack(here), { cellId: '4', lines: ['[{"n":1},[1,"two"]]'] });

      const linked = await connectInProcess({ logger: capturingLogger() });
      t.after(() => linked.close());
      const remote = await linked.client.resumeSession(snapshot, new RecordingDelegate());
      t.after(() => remote.shutdown());
      assert.deepEqual(await readBack(remote), { cellId: '4', lines: ['[{"n":1},[1,"two"]]'] });
      // A resumed session suspends again, and its ids go on from there.
      const again = await remote.suspend();
      assert.equal(again.nextCellId, 5);
      assert.deepEqual(again.storedValues, snapshot.storedValues);
    });

    test('suspend waits for a running cell, whose writes are kept; new cells are refused meanwhile', async (t) => {
      let release: () => void = () => {};
      const delegate = new RecordingDelegate({
        slow: () => new Promise<string>((resolve) => (release = () => resolve('late'))),
      });
      const session = (await kind.open(t, delegate, { tools: [{ name: 'slow' }] })) as Suspendable;
      const { initialEvent } = await session.execute(
        { source: 'store("x", await tools.slow())' },
        { kind: 'pendingFrontier' },
      );
      assert.equal((await initialEvent).kind, 'pending');
      const suspended = session.suspend();
      await assert.rejects(session.execute({ source: 'text(1)' }), { code: 'ERR_SHUTTING_DOWN' });
      release();
      const snapshot = await suspended;
      assert.deepEqual(snapshot.storedValues, { x: '"late"' });
      assert.equal(snapshot.nextCellId, 2);
    });

    test("suspend's signal terminates the running cells (their writes are dropped)", async (t) => {
      const session = (await kind.open(t, new RecordingDelegate())) as Suspendable;
      await (
        await session.execute({ source: 'store("kept", 1)' })
      ).initialEvent;
      const { initialEvent } = await session.execute(
        { source: 'store("lost", 2); await new Promise(() => {})' },
        { kind: 'pendingFrontier' },
      );
      await initialEvent;
      const controller = new AbortController();
      const suspended = session.suspend({ signal: controller.signal });
      controller.abort();
      const snapshot = await suspended;
      assert.deepEqual(snapshot.storedValues, { kept: '1' });
      await assert.rejects(session.suspend(), { code: 'ERR_SHUTTING_DOWN' });
    });
  });
}

describe('resume: bad snapshots', { timeout: 60_000 }, () => {
  const good: SessionSnapshot = { version: 1, options: {}, storedValues: { a: '1' }, nextCellId: 3 };
  const cases: [string, unknown, RegExp][] = [
    ['not an object', 'snapshot', /the snapshot must be an object/],
    [
      'another version',
      { ...good, version: 2 },
      /snapshot version 2 is not supported \(this codecell reads version 1\)/,
    ],
    ['no version', { ...good, version: undefined }, /snapshot version undefined is not supported/],
    ['a bad next cell id', { ...good, nextCellId: 0 }, /snapshot.nextCellId must be a positive integer/],
    ['a value that is not JSON', { ...good, storedValues: { a: '{' } }, /snapshot.storedValues.a is not valid JSON/],
    ['a value that is not text', { ...good, storedValues: { a: 1 } }, /snapshot.storedValues.a must be a JSON text/],
    ['an unknown option', { ...good, options: { delegate: {} } }, /snapshot.options.delegate is not a session option/],
    [
      'more than maxStoredBytes',
      { ...good, options: { limits: { maxStoredBytes: 10 } }, storedValues: { a: '"0123456789"' } },
      /its stored values are 13 bytes, over maxStoredBytes \(10\)/,
    ],
    [
      'values for a session without stored values',
      { ...good, options: { storedValues: 'disabled' } },
      /it has stored values, and the session it would make has storedValues disabled/,
    ],
  ];

  test('SessionRuntime.resume refuses each with ERR_INVALID_REQUEST saying why', () => {
    for (const [name, snapshot, why] of cases) {
      assert.throws(
        () =>
          SessionRuntime.resume(snapshot as SessionSnapshot, new RecordingDelegate(), { logger: capturingLogger() }),
        (error: { code?: string; message?: string }) =>
          error.code === 'ERR_INVALID_REQUEST' && why.test(error.message ?? ''),
        name,
      );
    }
  });

  test('HostClient#resumeSession refuses each with ERR_INVALID_REQUEST saying why, and nothing is created', async (t) => {
    const linked = await connectInProcess({ logger: capturingLogger() });
    t.after(() => linked.close());
    for (const [name, snapshot, why] of cases) {
      await assert.rejects(
        linked.client.resumeSession(snapshot as SessionSnapshot, new RecordingDelegate()),
        (error: { code?: string; message?: string }) =>
          error.code === 'ERR_INVALID_REQUEST' && why.test(error.message ?? ''),
        name,
      );
    }
    assert.equal(linked.client.hosts[0]?.sessions, 0);
  });
});

test(
  'suspended in one host process, resumed in another: the same stored values, ids continue',
  { timeout: 60_000 },
  async (t) => {
    const spawnOne = async () => {
      const client = await HostClient.spawn({ command: HOST_BIN, args: [], processes: 1, logger: capturingLogger() });
      t.after(() => client.close());
      return client;
    };
    const first = await spawnOne();
    const session = await first.createSession(new RecordingDelegate(), { tools: TOOLS });
    await filled(session);
    const firstPid = session.hostPid;
    const snapshot = JSON.parse(JSON.stringify(await session.suspend())) as SessionSnapshot;
    await first.close();
    const second = await spawnOne();
    const resumed = await second.resumeSession(snapshot, new RecordingDelegate());
    assert.notEqual(resumed.hostPid, firstPid);
    assert.deepEqual(await readBack(resumed), { cellId: '4', lines: ['[{"n":1},[1,"two"]]'] });
  },
);
