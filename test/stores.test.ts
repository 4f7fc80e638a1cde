// SPEC §16's stores, each against one contract: a lease per session whose epoch fences off a
// former owner (ERR_SESSION_MOVED), write-ahead records kept in order and all-or-none, the sessions
// listed with their summary. SQLite for real: a file in a temp folder, two connections to it, a
// committed write that outlives a kill -9, appends of one turn in one commit, a file of a newer
// schema refused.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { memoryStore } from '../src/store/memory-store.js';
import { sqliteStore } from '../src/store/sqlite-store.js';
import type { CodeCellStore } from '../src/store/store.js';
import { tempFolder } from './helpers.js';
import { storeContract, type StoreKind } from './store-contract.js';

const SQLITE_STORE = fileURLToPath(new URL('../src/store/sqlite-store.js', import.meta.url));

const kinds: StoreKind[] = [
  {
    name: 'memoryStore',
    open: (t) => {
      const store = memoryStore();
      t.after(() => store.close());
      return { store };
    },
  },
  {
    name: 'sqliteStore',
    open: (t) => {
      const path = join(tempFolder(t, 'codecell-sqlite-'), 'sessions.db');
      const opened: CodeCellStore[] = [];
      const open = (): CodeCellStore => {
        const store = sqliteStore({ path });
        opened.push(store);
        return store;
      };
      t.after(() => Promise.all(opened.map((store) => store.close())));
      return { store: open(), again: open };
    },
  },
];

for (const kind of kinds) storeContract(kind);

describe('sqliteStore: a real file', { timeout: 30_000 }, () => {
  test('a committed write outlives a kill -9 of its process', async (t) => {
    const path = join(tempFolder(t, 'codecell-sqlite-'), 'sessions.db');
    const writer = `
      const { sqliteStore } = await import(${JSON.stringify(SQLITE_STORE)});
      const store = sqliteStore({ path: ${JSON.stringify(path)} });
      await store.create('crash', 'agent-a', 60000, { n: 1 });
      await store.append('crash', 1, ['{"call":"started"}', '{"call":"answered"}'], { openCells: 1, pausedCells: 0 });
      process.stdout.write('committed');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', writer], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    t.after(() => void child.kill('SIGKILL'));
    await once(child.stdout, 'data');
    child.kill('SIGKILL');
    await once(child, 'exit');
    const store = sqliteStore({ path });
    t.after(() => store.close());
    assert.deepEqual(await store.records('crash'), ['{"call":"started"}', '{"call":"answered"}']);
    assert.deepEqual(
      (await store.sessions()).map(({ key, owner, openCells, metadata }) => ({ key, owner, openCells, metadata })),
      [{ key: 'crash', owner: 'agent-a', openCells: 1, metadata: { n: 1 } }],
    );
  });

  test('two connections that take a session in turn number its records as one log', async (t) => {
    const path = join(tempFolder(t, 'codecell-sqlite-'), 'sessions.db');
    const [a, b] = [sqliteStore({ path }), sqliteStore({ path })];
    t.after(() => Promise.all([a.close(), b.close()]));
    const lapse = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));
    const first = await a.create('turns', 'agent-a', 1, null);
    assert.equal(first?.epoch, 1);
    await a.append('turns', 1, ['a1', 'a2']);
    await lapse();
    assert.equal((await b.adopt('turns', 'agent-b', 1))?.epoch, 2);
    await b.append('turns', 2, ['b1']);
    await assert.rejects(a.append('turns', 1, ['late']), { code: 'ERR_SESSION_MOVED' });
    await lapse();
    // `a` wrote this session before, under another epoch: its next record follows b's, not its own.
    assert.equal((await a.adopt('turns', 'agent-a', 60_000))?.epoch, 3);
    await a.append('turns', 3, ['a3']);
    await a.append('turns', 3, ['a4']);
    assert.deepEqual(await b.records('turns'), ['a1', 'a2', 'b1', 'a3', 'a4']);
  });

  test('appends made in one turn after its first share one commit: fewer log frames than appends', async (t) => {
    const path = join(tempFolder(t, 'codecell-sqlite-'), 'sessions.db');
    const store = sqliteStore({ path });
    t.after(() => store.close());
    const keys = Array.from({ length: 16 }, (_, i) => `s${i}`);
    for (const key of keys) await store.create(key, 'agent-a', 60_000, null);
    // Each commit adds at least one frame (a page and its header) to the write-ahead log file.
    const before = statSync(`${path}-wal`).size;
    await Promise.all(keys.map((key) => store.append(key, 1, [`{"in":"${key}"}`], { openCells: 1, pausedCells: 0 })));
    const frames = (statSync(`${path}-wal`).size - before) / (4096 + 24);
    assert.ok(frames >= 1 && frames <= 4, `16 appends wrote ${frames} frames`);
    assert.deepEqual(
      await Promise.all(keys.map((key) => store.records(key))),
      keys.map((key) => [`{"in":"${key}"}`]),
    );
  });

  test("a renewal of 1 000 leases writes one row: the owner's lease, which its sessions follow", async (t) => {
    const path = join(tempFolder(t, 'codecell-sqlite-'), 'sessions.db');
    const store = sqliteStore({ path });
    t.after(() => store.close());
    const leases = Array.from({ length: 1_000 }, (_, n) => ({ key: `s${n}`, epoch: 1 }));
    for (const { key } of leases) await store.create(key, 'agent-a', 10_000, null);
    // Every update of a session's row or an owner's lease, counted by the file itself.
    const db = new DatabaseSync(path);
    t.after(() => db.close());
    db.exec(`CREATE TABLE seen (what TEXT PRIMARY KEY, n INTEGER NOT NULL);
      INSERT INTO seen VALUES ('sessions', 0), ('leases', 0);
      CREATE TRIGGER seen_sessions AFTER UPDATE ON codecell_sessions BEGIN
        UPDATE seen SET n = n + 1 WHERE what = 'sessions'; END;
      CREATE TRIGGER seen_leases AFTER UPDATE ON codecell_leases BEGIN
        UPDATE seen SET n = n + 1 WHERE what = 'leases'; END;`);
    const seen = () =>
      Object.fromEntries(
        db
          .prepare('SELECT what, n FROM seen')
          .all()
          .map((row) => [row.what, row.n]),
      );
    // The first renewal: each session starts to follow the owner's lease (written once).
    assert.deepEqual(await store.renew('agent-a', leases, 10_000), []);
    assert.deepEqual(seen(), { sessions: 1_000, leases: 0 });
    const before = Date.now();
    assert.deepEqual(await store.renew('agent-a', leases, 10_000), []);
    assert.deepEqual(seen(), { sessions: 1_000, leases: 1 });
    const listed = await store.sessions();
    assert.equal(listed.length, 1_000);
    assert.ok(listed.every((info) => info.leaseExpiresAt >= before + 10_000));
    assert.deepEqual(
      db
        .prepare('SELECT owner, lease_ms FROM codecell_leases')
        .all()
        .map((row) => ({ ...row })),
      [{ owner: 'agent-a', lease_ms: 10_000 }],
    );
  });

  test("an owner's lease that ran out and that no session follows is gone when the file is opened", async (t) => {
    const path = join(tempFolder(t, 'codecell-sqlite-'), 'sessions.db');
    const store = sqliteStore({ path });
    await store.create('kept', 'agent-a', 10_000, null);
    await store.create('gone', 'agent-b', 10_000, null);
    assert.deepEqual(await store.renew('agent-a', [{ key: 'kept', epoch: 1 }], 1), []);
    assert.deepEqual(await store.renew('agent-b', [{ key: 'gone', epoch: 1 }], 1), []);
    await store.remove('gone', 1);
    await store.close();
    const lapsed = Date.now() + 2;
    while (Date.now() <= lapsed) await new Promise((resolve) => setTimeout(resolve, 1));
    const again = sqliteStore({ path });
    t.after(() => again.close());
    const db = new DatabaseSync(path);
    t.after(() => db.close());
    assert.deepEqual(
      db
        .prepare('SELECT owner FROM codecell_leases')
        .all()
        .map((row) => row.owner),
      ['agent-a'],
    );
    assert.equal((await again.adopt('kept', 'agent-c', 10_000))?.epoch, 2);
  });

  test('a file of a newer schema is refused, and left as it was', async (t) => {
    const path = join(tempFolder(t, 'codecell-sqlite-'), 'sessions.db');
    await sqliteStore({ path }).close();
    const db = new DatabaseSync(path);
    db.exec('UPDATE codecell_schema SET version = 5');
    db.close();
    assert.throws(() => sqliteStore({ path }), {
      code: 'ERR_INVALID_REQUEST',
      message: `the SQLite store ${path} has schema version 5; this codecell knows versions up to 4: upgrade codecell to use it`,
    });
    const after = new DatabaseSync(path);
    t.after(() => after.close());
    assert.deepEqual({ ...after.prepare('SELECT version FROM codecell_schema').get() }, { version: 5 });
    assert.throws(() => sqliteStore({ path: '' }), { message: 'sqliteStore takes { path }: the database file' });
  });

  test('a file of schema version 1 is migrated, its sessions and records kept', async (t) => {
    const path = join(tempFolder(t, 'codecell-sqlite-'), 'sessions.db');
    const v1 = new DatabaseSync(path);
    v1.exec(`CREATE TABLE codecell_schema (version INTEGER NOT NULL);
      INSERT INTO codecell_schema (version) VALUES (1);
      CREATE TABLE codecell_sessions (key TEXT PRIMARY KEY, owner TEXT NOT NULL, epoch INTEGER NOT NULL,
        lease_expires_at INTEGER NOT NULL, open_cells INTEGER NOT NULL DEFAULT 0,
        paused_cells INTEGER NOT NULL DEFAULT 0, metadata TEXT, next_seq INTEGER NOT NULL DEFAULT 1);
      CREATE TABLE codecell_records (key TEXT NOT NULL, seq INTEGER NOT NULL, record TEXT NOT NULL,
        PRIMARY KEY (key, seq)) WITHOUT ROWID;
      INSERT INTO codecell_sessions VALUES ('old', 'agent-a', 4, 0, 1, 0, '{"n":1}', 3);
      INSERT INTO codecell_records VALUES ('old', 1, '"a"'), ('old', 2, '"b"');`);
    v1.close();
    const store = sqliteStore({ path });
    t.after(() => store.close());
    assert.deepEqual(await store.records('old'), ['"a"', '"b"']);
    const lease = await store.adopt('old', 'agent-b', 60_000);
    assert.equal(lease?.epoch, 5);
    await store.append('old', 5, ['"c"'], { openCells: 0, pausedCells: 1 });
    await store.append('old', 5, ['"d"'], { openCells: 0, pausedCells: 1 });
    assert.deepEqual(await store.records('old'), ['"a"', '"b"', '"c"', '"d"']);
    assert.deepEqual(
      (await store.sessions()).map(({ key, owner, openCells, pausedCells, metadata }) => ({
        key,
        owner,
        openCells,
        pausedCells,
        metadata,
      })),
      [{ key: 'old', owner: 'agent-b', openCells: 0, pausedCells: 1, metadata: { n: 1 } }],
    );
    await store.append('old', 5, ['"e"'], { openCells: 1, pausedCells: 0 });
    assert.deepEqual(
      (await store.sessions()).map(({ openCells, pausedCells }) => ({ openCells, pausedCells })),
      [{ openCells: 1, pausedCells: 0 }],
    );
    const db = new DatabaseSync(path);
    t.after(() => db.close());
    assert.deepEqual({ ...db.prepare('SELECT version FROM codecell_schema').get() }, { version: 4 });
  });
});
