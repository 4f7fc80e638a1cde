// SPEC §16 over the wire: a HostClient with a store writes what its session's ledger learns there
// — a call's `started` record before its delegate runs, its outcome before the host hears it —
// and after a kill -9 of the agent process (its hosts go with it), another client's `recover`
// creates the session again on its own host: the completed cell stands, the call in doubt is
// reported and not made again, the idempotent one is made again with its key, the approval is
// still asked for, stored values and cell ids continue.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { HostClient, type RemoteSession } from '../host/index.js';
import { sqliteStore, type CodeCellStore, type SessionStreamEvent } from '../src/index.js';
import { AGENT_TOOLS } from './fixtures/store-agent.js';
import { untilRecovered } from './agent-process.js';
import { capturingLogger, hang, LONG_WAIT, RecordingDelegate, stall, tempFolder, texts, waitFor } from './helpers.js';
import { storeWith } from './store-contract.js';
import { ownedStore } from './store-helpers.js';

/**
 * `store` on a slow disk: each append takes `ms` more (what a write ahead must wait for shows);
 * `landed` says when the first record of each kind was durable (Date.now()).
 */
function slowStore(store: CodeCellStore, ms: number, landed: Map<string, number>): CodeCellStore {
  return storeWith(store, 'slow', {
    append: async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      await store.append(...args);
      for (const text of args[2]) {
        const kind = (JSON.parse(text) as { t: string }).t;
        if (!landed.has(kind)) landed.set(kind, Date.now());
      }
    },
  });
}

describe('HostClient with a store', { timeout: 90_000 }, () => {
  test('a call is started in the store before the delegate runs; its outcome is there before the cell goes on', async (t) => {
    const store = sqliteStore({ path: join(tempFolder(t, 'codecell-remote-'), 's.db') });
    t.after(() => store.close());
    const landed = new Map<string, number>();
    const client = await HostClient.spawn({
      store: slowStore(store, 40, landed),
      processes: 1,
      logger: capturingLogger(),
    });
    t.after(() => client.close());
    const seen: string[][] = [];
    const delegate = new RecordingDelegate({
      lookup: async (call) => {
        const records = ((await store.records('remote-1')) ?? []).map((text) => JSON.parse(text) as { t: string });
        seen.push(records.map((record) => record.t).filter((kind) => kind !== 'event'));
        return { n: (call.input as { n: number }).n * 2 };
      },
    });
    const session = await client.createSession(delegate, { key: 'remote-1', tools: AGENT_TOOLS, metadata: { n: 1 } });
    const { initialEvent } = await session.execute(
      {
        source:
          'const a = await tools.lookup({ n: 1 }); text(String(Date.now()));' +
          'const b = await tools.lookup({ n: a.n }); text(b.n)',
      },
      LONG_WAIT,
    );
    const [took, result] = texts(await initialEvent);
    assert.equal(result, '4');
    // The cell took the first outcome only once it was durable (the host was answered after).
    assert.ok(Number(took) >= (landed.get('outcome') ?? Infinity), `${took} < ${landed.get('outcome')}`);
    assert.ok(seen[0]?.at(-1) === 'started' && !seen[0].includes('outcome'), String(seen[0]));
    assert.ok(seen[1]?.includes('outcome') && seen[1].at(-1) === 'started', String(seen[1]));
    const [listed] = await store.sessions();
    assert.deepEqual([listed?.key, listed?.metadata], ['remote-1', { n: 1 }]);
    // Shut down, it leaves the store.
    await session.shutdown();
    assert.equal(await store.records('remote-1'), undefined);
  });

  test('store options are checked: metadata and recover need a store, a store needs re-homing', async (t) => {
    const bare = await HostClient.spawn({ processes: 1, logger: capturingLogger() });
    t.after(() => bare.close());
    await assert.rejects(bare.createSession(new RecordingDelegate({}), { metadata: { n: 1 } }), {
      code: 'ERR_INVALID_REQUEST',
      message: 'metadata goes with a store: HostClient.spawn({ store }) or connect',
    });
    await assert.rejects(
      bare.recover(() => undefined),
      {
        code: 'ERR_INVALID_REQUEST',
        message: 'recover needs a store: HostClient.spawn({ store }) or connect',
      },
    );
    const store = sqliteStore({ path: join(tempFolder(t, 'codecell-remote-'), 'opts.db') });
    t.after(() => store.close());
    await assert.rejects(HostClient.spawn({ store, rehome: false }), {
      code: 'ERR_INVALID_REQUEST',
      message: 'a store keeps what re-homing keeps: it needs rehome (not false)',
    });
    await assert.rejects(HostClient.spawn({ store, leaseMs: 5 }), {
      message: 'leaseMs must be an integer from 100 to 86400000',
    });
  });

  test("a session with only its options written goes on from its key's cell ids; one with nothing is removed", async (t) => {
    const store = sqliteStore({ path: join(tempFolder(t, 'codecell-remote-'), 's.db') });
    t.after(() => store.close());
    await store.create('blank', 'gone', 1, null);
    await store.create('ids', 'gone', 60_000, null);
    await store.remove('ids', 1, 12);
    const lease = await store.create('ids', 'gone', 1, null);
    await store.append('ids', lease.epoch, ['{"t":"session","options":{"tools":[{"name":"lookup"}],"key":"ids"}}']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const logger = capturingLogger();
    const client = await HostClient.spawn({ store, processes: 1, logger });
    t.after(() => client.close());
    const delegate = new RecordingDelegate({ lookup: () => 1 });
    const recovered = await client.recover(() => delegate);
    assert.deepEqual(
      recovered.map((session) => session.key),
      ['ids'],
    );
    const cell = await (recovered[0] as RemoteSession).execute({ source: 'text(String(await tools.lookup({})))' });
    assert.equal(cell.cellId, '12');
    assert.equal((await cell.initialEvent).kind, 'completed');
    assert.deepEqual(
      delegate.calls.map((call) => call.idempotencyKey),
      ['ids:12:tool-1'],
    );
    assert.equal(await store.records('blank'), undefined);
    assert.match(logger.warnings.join('\n'), /session blank was not recovered: its creator stopped before writing/);
  });

  test('a client closed with its sessions open leaves them to a recovery (a deploy)', async (t) => {
    const store = sqliteStore({ path: join(tempFolder(t, 'codecell-remote-'), 'deploy.db') });
    t.after(() => store.close());
    const delegate = new RecordingDelegate({
      lookup: (call) => ({ n: (call.input as { n: number }).n * 2 }),
      rate: hang,
    });
    const old = await HostClient.spawn({ store, leaseMs: 300, processes: 1, logger: capturingLogger() });
    t.after(() => old.close());
    const session = await old.createSession(delegate, { key: 'deploy-1', tools: AGENT_TOOLS });
    const first = await session.execute({ source: "store('n', (await tools.lookup({ n: 21 })).n)" }, LONG_WAIT);
    assert.equal((await first.initialEvent).kind, 'completed');
    // A cell still running when the client closes: its host shuts it down, but that is not written.
    await session.execute({ source: "text('r' + await tools.rate({}))" }, { kind: 'yieldAfter', ms: 0 });
    await waitFor(() => delegate.calls.some((call) => call.tool.name === 'rate'));
    await old.close();
    const next = await HostClient.spawn({ store, leaseMs: 300, processes: 1, logger: capturingLogger() });
    t.after(() => next.close());
    const second = new RecordingDelegate({ rate: () => 7 });
    const recovered = (await untilRecovered(() => next.recover(() => second)))[0] as RemoteSession;
    assert.deepEqual(texts(await recovered.observe('2', LONG_WAIT)), ['r7']);
    const again = await recovered.execute({ source: "text(String(load('n')))" }, LONG_WAIT);
    assert.deepEqual([again.cellId, texts(await again.initialEvent)], ['3', ['42']]);
  });

  test('a store failing partway through a recovery: the sessions recovered already are handed out', async (t) => {
    const { store, old } = await ownedStore(t, 'partway.db');
    const delegate = new RecordingDelegate();
    for (const key of ['p-1', 'p-2']) {
      const session = await old.createSession(delegate, { key });
      await (
        await session.execute({ source: `store('k', '${key}')` }, LONG_WAIT)
      ).initialEvent;
    }
    await old.close();
    // The store answers about the first session it is asked of; then its connection drops.
    let first: string | undefined;
    let failing = true;
    const flaky = storeWith(store, 'flaky', {
      records: (key) => {
        first ??= key;
        return failing && key !== first ? Promise.reject(new Error('Connection terminated')) : store.records(key);
      },
    });
    const logger = capturingLogger();
    const next = await HostClient.spawn({ store: flaky, leaseMs: 300, processes: 1, logger });
    t.after(() => next.close());
    const recovered = (await untilRecovered(() => next.recover(() => delegate))) as RemoteSession[];
    assert.deepEqual(
      recovered.map((session) => session.key),
      [first],
    );
    const other = first === 'p-1' ? 'p-2' : 'p-1';
    assert.ok(
      logger.warnings.some((warning) => warning.includes(`recovering session ${other} failed`)),
      logger.warnings.join('\n'),
    );
    failing = false;
    const rest = (await untilRecovered(() => next.recover(() => delegate))) as RemoteSession[];
    assert.deepEqual(
      rest.map((session) => session.key),
      [other],
    );
    for (const session of [...recovered, ...rest]) {
      const cell = await session.execute({ source: "text(load('k'))" }, LONG_WAIT);
      assert.deepEqual(texts(await cell.initialEvent), [session.key]);
    }
  });

  test('a recovery whose read outlived its lease hands nothing out: the session is the next owner’s', async (t) => {
    const { store, old } = await ownedStore(t, 'slow-read.db');
    const delegate = new RecordingDelegate();
    const stored = await (
      await old.createSession(delegate, { key: 'slow-1' })
    ).execute({ source: "store('n', 1)" }, LONG_WAIT);
    assert.equal((await stored.initialEvent).kind, 'completed');
    await old.close();
    // The read after the adoption is held up past the lease (a store restarting).
    const reads = { count: 0, release: Promise.withResolvers<void>() };
    const slow = storeWith(store, 'slow', {
      records: async (key) => {
        if (++reads.count === 2) await reads.release.promise;
        return store.records(key);
      },
    });
    const first = await HostClient.spawn({ store: slow, leaseMs: 300, processes: 1, logger: capturingLogger() });
    t.after(() => first.close());
    const late = first.recover(() => delegate);
    await waitFor(() => reads.count === 2);
    stall(400);
    const next = await HostClient.spawn({ store, leaseMs: 300, processes: 1, logger: capturingLogger() });
    t.after(() => next.close());
    const [taken] = (await untilRecovered(() => next.recover(() => delegate))) as RemoteSession[];
    assert.equal(taken?.key, 'slow-1');
    reads.release.resolve();
    assert.deepEqual(await late, []);
    const cell = await (taken as RemoteSession).execute({ source: "text(String(load('n')))" }, LONG_WAIT);
    assert.deepEqual(texts(await cell.initialEvent), ['1']);
  });

  test("the session's stream continues after a recovery: numbered on, nothing lost or repeated", async (t) => {
    const store = sqliteStore({ path: join(tempFolder(t, 'codecell-remote-'), 'cursor.db') });
    t.after(() => store.close());
    const rated = Promise.withResolvers<number>();
    const first = new RecordingDelegate({ lookup: () => ({ n: 2 }), rate: () => rated.promise });
    const old = await HostClient.spawn({ store, leaseMs: 300, processes: 1, logger: capturingLogger() });
    t.after(() => old.close());
    const session = await old.createSession(first, { key: 'cursor-1', tools: AGENT_TOOLS });
    const stream = session.events();
    const source =
      "text('a'); const l = await tools.lookup({ n: 1 }); text('b' + l.n); text('c' + await tools.rate({}))";
    await session.execute({ source }, { kind: 'yieldAfter', ms: 0 });
    const seen: SessionStreamEvent[] = [];
    for await (const event of stream) {
      seen.push(event);
      if (event.type === 'toolCall' && event.tool.name === 'rate') break;
    }
    // The agent's process stops past its lease (its host runs on, fenced out of the store); another
    // process (its own view of the store) recovers the session.
    const elsewhere = storeWith(store, 'another process', {});
    const next = await HostClient.spawn({ store: elsewhere, leaseMs: 300, processes: 1, logger: capturingLogger() });
    t.after(() => next.close());
    stall(400);
    const second = new RecordingDelegate({ rate: () => 7 });
    const recovered = (await untilRecovered(() => next.recover(() => second)))[0] as RemoteSession;
    const rest: SessionStreamEvent[] = [];
    for await (const event of recovered.events({ after: seen.length })) {
      rest.push(event);
      if (event.type === 'closed') break;
    }
    const all = [...seen, ...rest];
    assert.deepEqual(
      all.map((event) => event.seq),
      all.map((_, index) => index + 1),
    );
    const lines = all.map((event) =>
      event.type === 'output' && event.item.type === 'text' ? `output ${event.item.text}` : event.type,
    );
    assert.deepEqual(lines, [
      'admitted',
      'output a',
      'toolCall',
      'toolResult',
      'output b2',
      'toolCall',
      'replayed',
      'toolResult',
      'output c7',
      'closed',
    ]);
  });

  test("an idempotent call made again after a recovery is its cell's own: terminate cancels it", async (t) => {
    const { store, old } = await ownedStore(t, 'again.db');
    const first = new RecordingDelegate({ rate: hang });
    const session = await old.createSession(first, { key: 'again-2', tools: AGENT_TOOLS });
    const { cellId } = await session.execute({ source: 'text(await tools.rate({}))' }, { kind: 'yieldAfter', ms: 0 });
    await waitFor(() => first.calls.length === 1);
    const elsewhere = storeWith(store, 'another process', {});
    const next = await HostClient.spawn({ store: elsewhere, leaseMs: 300, processes: 1, logger: capturingLogger() });
    t.after(() => next.close());
    stall(400);
    const second = new RecordingDelegate({ rate: hang });
    const [recovered] = (await untilRecovered(() => next.recover(() => second))) as RemoteSession[];
    assert.ok(recovered !== undefined);
    await waitFor(() => second.calls.length === 1);
    assert.equal(second.calls[0]?.idempotencyKey, first.calls[0]?.idempotencyKey);
    const ended = await recovered.terminate(cellId);
    assert.deepEqual([ended.kind, ended.kind === 'terminated' && ended.reason], ['terminated', 'requested']);
    assert.equal(second.signals[0]?.aborted, true);
  });

  test('a former owner asked to continue past its newest event: its store says it moved', async (t) => {
    const store = sqliteStore({ path: join(tempFolder(t, 'codecell-remote-'), 'former.db') });
    t.after(() => store.close());
    // The former owner's renewals hang (its process paused): it has not noticed its lease ran out.
    // Then, for a while, its store cannot answer (a lock held by another process).
    let renewals: 'hang' | 'locked' | 'pass' = 'hang';
    const paused = storeWith(store, 'paused', {
      renew: (...args) =>
        renewals === 'hang'
          ? new Promise<never>(() => {})
          : renewals === 'locked'
            ? Promise.reject(new Error('database is locked'))
            : store.renew(...args),
    });
    const old = await HostClient.spawn({ store: paused, leaseMs: 300, processes: 1, logger: capturingLogger() });
    t.after(() => old.close());
    const session = await old.createSession(new RecordingDelegate({}), { key: 'former-1', tools: AGENT_TOOLS });
    const next = await HostClient.spawn({ store, leaseMs: 300, processes: 1, logger: capturingLogger() });
    t.after(() => next.close());
    const recovered = (await untilRecovered(() => next.recover(() => new RecordingDelegate({}))))[0] as RemoteSession;
    const stream = recovered.events();
    await recovered.execute({ source: "text('b')" }, LONG_WAIT);
    let newest = 0;
    for await (const event of stream) {
      newest = event.seq;
      if (event.type === 'closed') break;
    }
    // A follower read the new owner's events; the former owner is asked to continue after them.
    assert.equal(newest, 3);
    // Asked while its store cannot answer, it asks again, and says it moved once the store can.
    renewals = 'locked';
    setTimeout(() => (renewals = 'pass'), 600);
    await assert.rejects(session.events({ after: newest }).next(), { code: 'ERR_SESSION_MOVED' });
    assert.equal(session.isAlive, false);
  });
});
