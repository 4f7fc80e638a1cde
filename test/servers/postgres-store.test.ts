// postgresStore against a real PostgreSQL server this file starts (postgres-server.ts): the store
// contract (with its group commit), a newer schema refused, a committed append that outlives the server's crash and restart (the
// store carries on), and a SessionRuntime recovered from it. Without PostgreSQL binaries here the
// file says so in one line and skips (CI installs them: .ci/run).
import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import { connect, createServer, type AddressInfo } from 'node:net';
import pg from 'pg';
import { SessionRuntime } from '../../src/index.js';
import { postgresStore } from '../../src/store/postgres-store.js';
import type { CodeCellStore } from '../../src/store/store.js';
import { crashAgent, untilRecovered } from '../agent-process.js';
import { crashPromises } from '../crash-promises.js';
import { capturingLogger, LONG_WAIT, RecordingDelegate, texts } from '../helpers.js';
import { freePort, startPostgres } from '../postgres-server.js';
import { storeContract } from '../store-contract.js';

const server = await startPostgres();
const skip = 'skip' in server ? server.skip : false;
if ('stop' in server) after(() => server.stop());

let databases = 0;
/** A fresh database of the server, for one test (keys do not meet across tests). */
function database(): string {
  if ('skip' in server) throw new Error(server.skip);
  return server.createDatabase(`t${++databases}`);
}

/** A store on a fresh database, closed when `t` ends; `again`: another store (its own pool) on it. */
function open(t: TestContext): { store: CodeCellStore; again: () => CodeCellStore; url: string } {
  const url = database();
  const opened: CodeCellStore[] = [];
  const again = (): CodeCellStore => {
    const store = postgresStore({ connectionString: url });
    opened.push(store);
    return store;
  };
  t.after(() => Promise.all(opened.map((store) => store.close())));
  return { store: again(), again, url };
}

if (skip === false) storeContract({ name: 'postgresStore', open });
if (skip === false)
  crashPromises({
    name: 'postgresStore',
    where: () => database(),
    open: (t, connectionString) => {
      const store = postgresStore({ connectionString });
      t.after(() => store.close());
      return store;
    },
  });

test('a server that cannot be reached at start: the first execute fails ERR_STORE_FAILED naming the store', async (t) => {
  const port = await freePort(); // nothing listens there
  const store = postgresStore({ connectionString: `postgres://codecell:secret@127.0.0.1:${port}/agents` });
  t.after(() => store.close());
  const logger = capturingLogger();
  const session = new SessionRuntime(new RecordingDelegate(), { store, logger });
  t.after(() => session.shutdown());
  const refused = {
    code: 'ERR_STORE_FAILED',
    message: `the postgres 127.0.0.1:${port}/agents store failed: connect ECONNREFUSED 127.0.0.1:${port}`,
  };
  await assert.rejects(session.execute({ source: 'text(1)' }), refused);
  // The session ended with it (nothing is retried at start), and says so again.
  await assert.rejects(session.execute({ source: 'text(2)' }), refused);
});

describe('postgresStore: a real server', { timeout: 60_000, skip }, () => {
  test('a database of a newer schema is refused, and left as it was', async (t) => {
    const { store, url } = open(t);
    await store.sessions();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    t.after(() => admin.end());
    await admin.query('UPDATE codecell_schema SET version = 5');
    const newer = postgresStore({ connectionString: url });
    t.after(() => newer.close());
    await assert.rejects(newer.sessions(), {
      code: 'ERR_INVALID_REQUEST',
      message: /^postgres \S+ has schema version 5; this codecell knows versions up to 4: upgrade codecell to use it$/,
    });
    assert.deepEqual((await admin.query('SELECT version FROM codecell_schema')).rows, [{ version: 5 }]);
    assert.throws(() => postgresStore({} as never), {
      message: 'postgresStore takes { connectionString } or { pool }',
    });
  });

  test('a renewal of 1 000 leases writes one row; an adopter waits for a renewal under way', async (t) => {
    const { store, again, url } = open(t);
    const other = again();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    t.after(() => admin.end());
    const leases = Array.from({ length: 1_000 }, (_, n) => ({ key: `s${n}`, epoch: 1 }));
    for (const { key } of leases) await store.create(key, 'agent-a', 10_000, null);
    await store.renew('agent-a', leases, 10_000); // each session starts to follow the owner's lease
    await admin.query(`CREATE TABLE seen (what text PRIMARY KEY, n integer NOT NULL);
      INSERT INTO seen VALUES ('codecell_sessions', 0), ('codecell_leases', 0);
      CREATE FUNCTION seen_one() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN UPDATE seen SET n = n + 1 WHERE what = TG_TABLE_NAME; RETURN NULL; END $$;
      CREATE TRIGGER seen_sessions AFTER UPDATE ON codecell_sessions FOR EACH ROW EXECUTE FUNCTION seen_one();
      CREATE TRIGGER seen_leases AFTER UPDATE ON codecell_leases FOR EACH ROW EXECUTE FUNCTION seen_one();`);
    const seen = async () =>
      Object.fromEntries((await admin.query('SELECT what, n FROM seen')).rows.map((row) => [row.what, row.n]));
    const before = Date.now();
    assert.deepEqual(await store.renew('agent-a', leases, 10_000), []);
    assert.deepEqual(await seen(), { codecell_sessions: 0, codecell_leases: 1 });
    const listed = await store.sessions();
    assert.ok(listed.length === 1_000 && listed.every((info) => info.leaseExpiresAt >= before + 10_000));
    // A renewal under way holds the owner's lease (its first statement): an adoption of a session
    // that follows it waits, and sees it extended. Here the lease had run out before.
    await store.create('short', 'agent-a', 100, null);
    await store.renew('agent-a', [{ key: 'short', epoch: 1 }], 100);
    const until = Date.now() + 150;
    while (Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
    await admin.query('BEGIN');
    await admin.query(`UPDATE codecell_leases SET expires_at = expires_at + 60000 WHERE lease_ms = 100`);
    let settled = false;
    const adopting = other.adopt('short', 'agent-b', 10_000).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(settled, false, 'the adoption waits for the renewal under way');
    await admin.query('COMMIT');
    assert.equal(await adopting, undefined);
  });

  test('a committed append outlives a crash of the server; the store carries on after its restart', async (t) => {
    if ('skip' in server) return;
    const { store } = open(t);
    await store.create('k', 'agent-1', 60_000, { n: 1 });
    await store.append('k', 1, ['before']);
    server.restart();
    // The pool's connections died with the server: the first statement after may fail, then it reconnects.
    let records: string[] | undefined;
    for (let tries = 0; records === undefined && tries < 50; tries++)
      records = await store.records('k').catch(() => undefined);
    assert.deepEqual(records, ['before']);
    await store.append('k', 1, ['after']);
    assert.deepEqual(await store.records('k'), ['before', 'after']);
  });

  test('a store whose first use failed (the server away) works once the server is back', async (t) => {
    if ('skip' in server) return;
    // A real socket between the store and the server: it drops every connection while `away`.
    const url = new URL(database());
    const port = Number(url.port);
    let away = true;
    const proxy = createServer((socket) => {
      if (away) return void socket.destroy();
      const upstream = connect(port, url.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    url.port = String((proxy.address() as AddressInfo).port);
    const store = postgresStore({ connectionString: url.href });
    // The store's pool first: the proxy closes once its connections have.
    t.after(async () => {
      await store.close();
      await new Promise((resolve) => proxy.close(resolve));
    });
    await assert.rejects(store.sessions());
    away = false;
    assert.deepEqual(await store.sessions(), []);
    await store.create('k', 'agent-1', 60_000, null);
    assert.deepEqual(
      (await store.sessions()).map(({ key }) => key),
      ['k'],
    );
  });

  test('a connection lost in the middle of a transaction fails that call only, never the process', async (t) => {
    const { store, url } = open(t);
    await store.create('held', 'agent-1', 60_000, null);
    await store.remove('held', 1, 5);
    // Another connection holds the key's row: create waits inside its transaction, on a checked-out connection.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    t.after(() => admin.end());
    await admin.query("BEGIN; SELECT * FROM codecell_retired WHERE key = 'held' FOR UPDATE");
    // Its rejection is awaited below: heard from now on, as the server's word that it ended the
    // connection may come before the answer to the query that ends it.
    const created = assert.rejects(store.create('held', 'agent-2', 60_000, null), /terminat/);
    let waiting: unknown[] = [];
    for (let tries = 0; waiting.length === 0 && tries < 500; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      ({ rows: waiting } = await admin.query(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT epoch, next_cell_id%'",
      ));
    }
    assert.equal(waiting.length, 1, 'create waits on the lock');
    // The server ends that connection (as a crash ends all of them): an 'error' event on a client the pool lent out.
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1', [
      (waiting[0] as { pid: number }).pid,
    ]);
    await created;
    await admin.query('ROLLBACK');
    // The store goes on, on a new connection.
    assert.deepEqual((await store.create('held', 'agent-2', 60_000, null)).nextCellId, 5);
  });

  test('a crash and restart of the server under a session: its calls go on, each made and written once', async (t) => {
    if ('skip' in server) return;
    const { store } = open(t);
    const delegate = new RecordingDelegate({
      lookup: (call) => {
        // The server crashes (and comes back) between this call's started record and its outcome.
        if (call.callId === 'tool-5') server.restart();
        return (call.input as { n: number }).n;
      },
    });
    const tools = [{ name: 'lookup' }];
    const session = new SessionRuntime(delegate, { store, key: 'restarted', tools, logger: capturingLogger() });
    t.after(() => session.shutdown());
    const source = 'let sum = 0; for (let n = 1; n <= 12; n++) sum += await tools.lookup({ n }); text(String(sum))';
    const { initialEvent } = await session.execute({ source }, LONG_WAIT);
    assert.deepEqual(texts(await initialEvent), ['78']);
    assert.equal(delegate.calls.length, 12);
    const records = ((await store.records('restarted')) ?? []).map((text) => JSON.parse(text) as { t: string });
    const ids = (kind: string): unknown[] =>
      records.filter((record) => record.t === kind).map((record) => (record as { callId?: string }).callId);
    const each = Array.from({ length: 12 }, (_, index) => `tool-${index + 1}`);
    assert.deepEqual([ids('started'), ids('outcome')], [each, each]);
  });

  test('an agent process killed with -9: another recovers its session from PostgreSQL', async (t) => {
    const url = database();
    assert.equal(await crashAgent(t, url), 'READY interrupted');
    const store = postgresStore({ connectionString: url });
    t.after(() => store.close());
    const delegate = new RecordingDelegate({ rate: () => 2, approve: () => 'yes' });
    const recovered = await untilRecovered(() =>
      SessionRuntime.recover(store, () => delegate, { logger: capturingLogger() }),
    );
    for (const each of recovered) t.after(() => each.shutdown());
    const session = recovered[0] as SessionRuntime;
    const inDoubt = await session.observe('2', LONG_WAIT);
    assert.deepEqual(inDoubt.kind === 'interrupted' && [inDoubt.reason, inDoubt.tool, inDoubt.idempotencyKey], [
      'inDoubt',
      { name: 'charge' },
      'agent-1:2:tool-2',
    ]);
    const end = await session.resumeCell('2', { result: 'done' }, LONG_WAIT);
    assert.deepEqual([...texts(inDoubt), ...texts(end)], ['s=2', 'charged done', 'rate 2']);
    const approval = await session.observe('3', LONG_WAIT);
    assert.equal(approval.kind, 'interrupted');
    assert.deepEqual(
      delegate.calls.map((call) => call.tool.name),
      ['rate'],
    );
  });
});
