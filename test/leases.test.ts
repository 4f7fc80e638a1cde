// SPEC §16's leases as the contract says: a recovery never adopts a session this process still
// drives; renewals the store fails are said on the session's logger; a session left to a recovery
// (a client closed) has its lease released, so the next process adopts it at once; a lease runs out
// by the store's clock, not the agent's; and a former owner paused past its lease never makes a
// call it had written down once another process adopted the session.
import assert from 'node:assert/strict';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { HostClient } from '../host/index.js';
import {
  memoryStore,
  SessionRuntime,
  sqliteStore,
  type CodeCellStore,
  type NestedToolCall,
  type StartedCell,
} from '../src/index.js';
import { CodeCellError } from '../src/errors.js';
import { storeWith } from './store-contract.js';
import {
  capturingLogger,
  deferred,
  hang,
  LONG_WAIT,
  RecordingDelegate,
  tempFolder,
  texts,
  waitFor,
} from './helpers.js';

const TOOLS = [{ name: 'charge' }, { name: 'lookup' }];

/** Waits `ms`: undefined after. */
const hangFor = (ms: number): Promise<undefined> => new Promise((resolve) => setTimeout(() => resolve(undefined), ms));

/** Until the session's lease has run out by the store's clock. */
async function leaseRunOut(store: CodeCellStore, key: string): Promise<void> {
  for (;;) {
    const info = (await store.sessions()).find((each) => each.key === key);
    if (info !== undefined && info.leaseExpiresAt <= Date.now()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('leases', { timeout: 60_000 }, () => {
  test('a recovery never adopts a session this process still drives, even once its lease ran out', async (t) => {
    const store = memoryStore();
    // Its renewals fail: the lease runs out while the session lives here.
    const stuck = storeWith(store, 'stuck', { renew: () => Promise.reject(new Error('unreachable')) });
    const owner = new SessionRuntime(new RecordingDelegate(), {
      store: stuck,
      key: 'held-1',
      leaseMs: 100,
      logger: capturingLogger(),
    });
    t.after(() => owner.shutdown());
    await (
      await owner.execute({ source: 'text(1)' }, LONG_WAIT)
    ).initialEvent;
    await leaseRunOut(store, 'held-1');
    assert.deepEqual(await SessionRuntime.recover(stuck, () => new RecordingDelegate()), []);
    // Another process (its own view of the store) may.
    const [other] = await SessionRuntime.recover(
      storeWith(store, 'another process', {}),
      () => new RecordingDelegate(),
    );
    t.after(() => other?.shutdown());
    assert.equal(other?.key, 'held-1');
  });

  test("a renewal the store fails is said on the session's logger, with the store's error", async (t) => {
    const store = memoryStore();
    const failing = storeWith(store, 'flaky', { renew: () => Promise.reject(new Error('disk I/O error')) });
    const logger = capturingLogger();
    const session = new SessionRuntime(new RecordingDelegate(), {
      store: failing,
      key: 'renew-1',
      leaseMs: 150,
      logger,
    });
    t.after(() => session.shutdown());
    await session.execute({ source: 'text(1)' });
    await waitFor(() => logger.warnings.length >= 2);
    assert.match(
      logger.warnings[0] ?? '',
      /^codecell: renewing the lease of session renew-1 failed \(1 in a row\) in flaky memory: disk I\/O error$/,
    );
    assert.match(logger.warnings[1] ?? '', /\(2 in a row\)/);
  });

  test('a client closed with its sessions open releases their leases: the next process adopts them at once', async (t) => {
    const store = memoryStore();
    const old = await HostClient.spawn({ store, leaseMs: 60_000, processes: 1, logger: capturingLogger() });
    const delegate = new RecordingDelegate({ lookup: () => 1 });
    const session = await old.createSession(delegate, { key: 'deploy-2', tools: TOOLS });
    await (
      await session.execute({ source: 'await tools.lookup({})' }, LONG_WAIT)
    ).initialEvent;
    await old.close();
    const [listed] = await store.sessions();
    assert.ok((listed?.leaseExpiresAt ?? Infinity) <= Date.now() + 1, 'its lease was released');
    const next = await HostClient.spawn({ store, leaseMs: 60_000, processes: 1, logger: capturingLogger() });
    t.after(() => next.close());
    // No waiting for a minute's lease: adopted on the first try.
    const recovered = await next.recover(() => delegate);
    assert.deepEqual(
      recovered.map((each) => each.key),
      ['deploy-2'],
    );
  });

  test('a session whose store failed has its lease released, though the process renews its others', async (t) => {
    const store = sqliteStore({ path: join(tempFolder(t, 'codecell-leases-'), 'sessions.db') });
    t.after(() => store.close());
    // Both sessions are this process's, so a SQLite store keeps one lease for them (of 300 ms).
    const live = new SessionRuntime(new RecordingDelegate(), { store, key: 'live', leaseMs: 300 });
    t.after(() => live.shutdown());
    // Once full, a failure the store calls final (a failed append is otherwise tried again for 30 s).
    let isFull = false;
    const full = storeWith(store, 'full', {
      append: (...args) =>
        isFull
          ? Promise.reject(new CodeCellError('ERR_STORE_FAILED', 'database or disk is full'))
          : store.append(...args),
    });
    const broken = new SessionRuntime(new RecordingDelegate(), { store: full, key: 'broken', leaseMs: 300 });
    t.after(() => broken.shutdown());
    await (
      await live.execute({ source: 'text(1)' }, LONG_WAIT)
    ).initialEvent;
    await (
      await broken.execute({ source: 'text(1)' }, LONG_WAIT)
    ).initialEvent;
    // Renewed once at least: it follows the process's lease.
    const expiry = async () => (await store.sessions()).find((info) => info.key === 'broken')?.leaseExpiresAt;
    const created = await expiry();
    while (((await expiry()) ?? 0) <= (created ?? Infinity)) await hangFor(20);
    isFull = true;
    await assert.rejects((async () => (await broken.execute({ source: 'text(2)' }, LONG_WAIT)).initialEvent)(), {
      code: 'ERR_STORE_FAILED',
    });
    // Another process adopts it while this one goes on renewing the live session's lease.
    const elsewhere = storeWith(store, 'another process', {});
    let adopted: number | undefined;
    for (const until = Date.now() + 5_000; adopted === undefined && Date.now() < until;)
      adopted = (await elsewhere.adopt('broken', 'agent-b', 10_000))?.epoch ?? (await hangFor(20));
    assert.equal(adopted, 2);
    assert.equal(await elsewhere.adopt('live', 'agent-b', 10_000), undefined);
  });

  test("a lease runs out by the store's clock: an agent whose clock is behind the store's still adopts", async (t) => {
    const store = memoryStore();
    await store.create('skew-1', 'gone', 100, null);
    await store.append('skew-1', 1, [JSON.stringify({ t: 'session', options: { key: 'skew-1' } })]);
    await leaseRunOut(store, 'skew-1');
    // The store's clock is a minute ahead of this agent's: its lease times are too.
    const ahead = storeWith(store, 'ahead', {
      now: async () => Date.now() + 60_000,
      sessions: async () =>
        (await store.sessions()).map((info) => ({ ...info, leaseExpiresAt: info.leaseExpiresAt + 60_000 })),
    });
    const [session] = await SessionRuntime.recover(ahead, () => new RecordingDelegate(), { logger: capturingLogger() });
    t.after(() => session?.shutdown());
    assert.equal(session?.key, 'skew-1');
  });

  test('a former owner paused past its lease never makes the call it wrote down: it learns it moved', async (t) => {
    const store = memoryStore();
    const started = deferred();
    const resume = deferred();
    let renewals: 'hold' | 'pass' = 'pass';
    const owned = storeWith(store, 'owner', {
      // The call's `started` record lands; then this owner stops (as SIGSTOP would) until resumed.
      append: async (key, epoch, records, summary) => {
        await store.append(key, epoch, records, summary);
        if (records.some((record) => record.startsWith('{"t":"started"'))) {
          renewals = 'hold';
          started.resolve();
          await resume.promise;
        }
      },
      // While it is stopped its lease is not renewed (a renewal sent then never comes back).
      renew: (...args) => (renewals === 'hold' ? hang() : store.renew(...args)),
    });
    const first = new RecordingDelegate({ charge: () => 'charged' });
    const owner = new SessionRuntime(first, {
      store: owned,
      key: 'fenced-1',
      tools: TOOLS,
      leaseMs: 200,
      logger: capturingLogger(),
    });
    t.after(() => owner.shutdown());
    const cell = await owner.execute(
      { source: 'text(await tools.charge({ amount: 5 }))' },
      { kind: 'yieldAfter', ms: 0 },
    );
    await started.promise;
    await leaseRunOut(store, 'fenced-1');
    // Another process adopts the session: the charge is in doubt there.
    const second = new RecordingDelegate({ charge: () => 'again' });
    const [adopted] = await SessionRuntime.recover(storeWith(store, 'another process', {}), () => second, {
      logger: capturingLogger(),
    });
    assert.ok(adopted !== undefined);
    t.after(() => adopted.shutdown());
    const inDoubt = await adopted.observe(cell.cellId, LONG_WAIT);
    assert.deepEqual(inDoubt.kind === 'interrupted' && [inDoubt.reason, inDoubt.tool], ['inDoubt', { name: 'charge' }]);
    // The former owner goes on: before the call it finds its lease gone, and ends.
    renewals = 'pass';
    resume.resolve();
    await waitFor(() => !owner.isAlive);
    await assert.rejects(owner.execute({ source: 'text(1)' }), { code: 'ERR_SESSION_MOVED' });
    assert.deepEqual(first.calls, [] as NestedToolCall[]);
    assert.deepEqual(second.calls, [] as NestedToolCall[]);
  });

  test('recover can wait: leases that end within waitMs are adopted as they end; renewed ones are not waited for', async (t) => {
    const store = memoryStore();
    // A dead owner (its renewals never come back) and a live one, on the same store.
    const dead = new SessionRuntime(new RecordingDelegate(), {
      store: storeWith(store, 'dead', { renew: hang }),
      key: 'wait-dead',
      leaseMs: 400,
      logger: capturingLogger(),
    });
    t.after(() => dead.shutdown());
    const live = new SessionRuntime(new RecordingDelegate(), {
      store: storeWith(store, 'live', {}),
      key: 'wait-live',
      leaseMs: 300,
      logger: capturingLogger(),
    });
    t.after(() => live.shutdown());
    await Promise.all([dead.execute({ source: 'text(1)' }), live.execute({ source: 'text(1)' })]);
    // Right away, nothing has ended: without waiting, nothing is adopted.
    const elsewhere = storeWith(store, 'another process', {});
    assert.deepEqual(await SessionRuntime.recover(elsewhere, () => new RecordingDelegate()), []);
    const began = performance.now();
    const recovered = await SessionRuntime.recover(elsewhere, () => new RecordingDelegate(), {
      waitMs: 30_000,
      logger: capturingLogger(),
    });
    for (const each of recovered) t.after(() => each.shutdown());
    assert.deepEqual(
      recovered.map((each) => each.key),
      ['wait-dead'],
    );
    // It returned once the dead lease ended and the live one was seen renewed, not at the wait's end.
    assert.ok(performance.now() - began < 20_000, `${performance.now() - began} ms`);
    await assert.rejects(
      SessionRuntime.recover(elsewhere, () => undefined, { waitMs: -1 }),
      {
        code: 'ERR_INVALID_REQUEST',
        message: 'options.waitMs must be an integer from 0 to 86400000',
      },
    );
  });

  test('each call carries the epoch of the lease it is made under', async (t) => {
    const store = memoryStore();
    const delegate = new RecordingDelegate({ lookup: () => 1 });
    const session = new SessionRuntime(delegate, { store, key: 'epoch-1', tools: TOOLS, logger: capturingLogger() });
    t.after(() => session.shutdown());
    await (
      await session.execute({ source: 'await tools.lookup({})' }, LONG_WAIT)
    ).initialEvent;
    assert.deepEqual(
      delegate.calls.map((call) => call.epoch),
      [1],
    );
  });
});

describe('hostile stores', { timeout: 60_000 }, () => {
  test('a row or a log that does not read is skipped and said (its key and why); the rest are recovered', async (t) => {
    const path = join(tempFolder(t, 'codecell-hostile-'), 's.db');
    const store = sqliteStore({ path });
    t.after(() => store.close());
    const session = (options: object): string => JSON.stringify({ t: 'session', options });
    // a-shape: a record of the right kind and the wrong shape; b-meta: metadata that is not JSON.
    await store.create('a-shape', 'gone', 1, null);
    const start = { code: 'text(1)', filename: 'cell.js', toolCallId: 'exec-1', seed: 1, storedAt: null };
    const shaped = JSON.stringify({ t: 'journal', cellId: '1', start, update: { calls: 5 } });
    await store.append('a-shape', 1, [session({}), shaped]);
    await store.create('b-meta', 'gone', 1, { fine: true });
    await store.append('b-meta', 1, [session({})]);
    await store.create('c-good', 'gone', 1, null);
    await store.append('c-good', 1, [session({ key: 'c-good' })]);
    const raw = new DatabaseSync(path);
    raw.prepare("UPDATE codecell_sessions SET metadata = '{not json' WHERE key = 'b-meta'").run();
    raw.close();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const listed = await store.sessions();
    assert.deepEqual(
      listed.map((info) => [info.key, info.metadata, info.unreadable?.startsWith('its metadata is not JSON')]),
      [
        ['a-shape', null, undefined],
        ['b-meta', null, true],
        ['c-good', null, undefined],
      ],
    );
    const logger = capturingLogger();
    const recovered = await SessionRuntime.recover(store, () => new RecordingDelegate(), { logger });
    for (const each of recovered) t.after(() => each.shutdown());
    assert.deepEqual(
      recovered.map((each) => each.key),
      ['c-good'],
    );
    assert.equal(logger.warnings.length, 2, logger.warnings.join('\n'));
    assert.match(
      logger.warnings[0] ?? '',
      /^codecell: session a-shape was not recovered: its log does not read as this codecell's: /,
    );
    assert.match(logger.warnings[1] ?? '', /^codecell: session b-meta was not recovered: its metadata is not JSON/);
    // Left as they were, for a person to look at.
    assert.equal((await store.records('a-shape'))?.length, 2);
  });
});

describe('hostile stores: SQLite', { timeout: 60_000 }, () => {
  test("another process's lock on the file never holds this thread: other sessions go on meanwhile", async (t) => {
    const path = join(tempFolder(t, 'codecell-locked-'), 's.db');
    const store = sqliteStore({ path });
    t.after(() => store.close());
    const other = new DatabaseSync(path);
    t.after(() => other.close());
    other.exec('BEGIN IMMEDIATE');
    let released = false;
    const session = new SessionRuntime(new RecordingDelegate(), { store, key: 'locked-1', logger: capturingLogger() });
    t.after(() => session.shutdown());
    const locked = session.execute({ source: 'text(1)' }).then(() => released);
    // A session on another store runs a cell to its end while the file stays locked.
    const free = new SessionRuntime(new RecordingDelegate(), { logger: capturingLogger() });
    t.after(() => free.shutdown());
    assert.deepEqual(texts(await (await free.execute({ source: 'text(2)' }, LONG_WAIT)).initialEvent), ['2']);
    released = true;
    other.exec('COMMIT');
    assert.equal(await locked, true, 'admitted only once the lock was released');
  });

  test('a file deleted under the store: the session ends saying so (ERR_STORE_FAILED), naming the file', async (t) => {
    const folder = tempFolder(t, 'codecell-deleted-');
    const path = join(folder, 's.db');
    const store = sqliteStore({ path });
    t.after(() => store.close());
    const delegate = new RecordingDelegate({ lookup: () => 1 });
    const session = new SessionRuntime(delegate, { store, key: 'deleted-1', tools: TOOLS, logger: capturingLogger() });
    t.after(() => session.shutdown());
    await (
      await session.execute({ source: 'await tools.lookup({})' }, LONG_WAIT)
    ).initialEvent;
    rmSync(folder, { recursive: true, force: true });
    // The next write finds it gone (it looks at most once a second).
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const next = await session
      .execute({ source: 'await tools.lookup({})' }, LONG_WAIT)
      .catch((error: unknown) => error);
    const error =
      next instanceof Error ? next : await (next as StartedCell).initialEvent.catch((caught: unknown) => caught);
    assert.equal((error as { code?: string }).code, 'ERR_STORE_FAILED');
    assert.match((error as Error).message, new RegExp(`${path.replaceAll('/', '\\/')} was deleted`));
    assert.equal(delegate.calls.length, 1, 'no call was made after');
  });

  test('the file and its -wal and -shm are readable by their user alone', async (t) => {
    const path = join(tempFolder(t, 'codecell-mode-'), 's.db');
    const store = sqliteStore({ path });
    t.after(() => store.close());
    await store.create('k', 'me', 1_000, null);
    await store.append('k', 1, ['{}']);
    for (const file of [path, `${path}-wal`, `${path}-shm`])
      assert.equal((statSync(file).mode & 0o777).toString(8), '600', file);
  });

  test('what cannot be a store is refused naming it: a URL, a missing folder, a file that is not a database', (t) => {
    const folder = tempFolder(t, 'codecell-open-');
    assert.throws(() => sqliteStore({ path: 'postgres://db.example/codecell' }), {
      code: 'ERR_INVALID_REQUEST',
      message: /takes a file's path, not a URL: postgres:\/\/db\.example\/codecell/,
    });
    const missing = join(folder, 'no-such-folder', 's.db');
    assert.throws(() => sqliteStore({ path: missing }), {
      code: 'ERR_INVALID_REQUEST',
      message: `sqliteStore: the folder of ${missing} does not exist (it is not made for you)`,
    });
    const text = join(folder, 'notes.txt');
    writeFileSync(text, 'these are not the pages of a database, only some words in a file\n'.repeat(20));
    assert.throws(() => sqliteStore({ path: text }), {
      code: 'ERR_STORE_FAILED',
      message: new RegExp(`^the SQLite store ${text.replaceAll('/', '\\/')}: file is not a database`),
    });
  });
});
