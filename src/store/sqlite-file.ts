// The file under a sqliteStore (SPEC §16): opened so that what goes wrong says which file and why
// (a URL, a missing folder, a file that is not a database), made readable by its user alone (it
// holds every tool input and result; SQLite gives its -wal and -shm the same mode), migrated to
// this codecell's schema, and watched: a file deleted or replaced under the store is a failure,
// not a place to go on "committing" to. Every error of the store names its file.
import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { CodeCellError, invalidRequest, isCodeCellError, messageOf } from '../errors.js';
import { newerSchema, STORE_SCHEMA_VERSION } from './store.js';

/** Each version's schema steps, in order: a store at version n runs the steps after n. */
const MIGRATIONS: readonly string[][] = [
  [
    `CREATE TABLE codecell_sessions (
      key TEXT PRIMARY KEY,
      owner TEXT NOT NULL,
      epoch INTEGER NOT NULL,
      lease_expires_at INTEGER NOT NULL,
      open_cells INTEGER NOT NULL DEFAULT 0,
      paused_cells INTEGER NOT NULL DEFAULT 0,
      metadata TEXT,
      next_seq INTEGER NOT NULL DEFAULT 1
    )`,
    `CREATE TABLE codecell_records (
      key TEXT NOT NULL,
      seq INTEGER NOT NULL,
      record TEXT NOT NULL,
      PRIMARY KEY (key, seq)
    ) WITHOUT ROWID`,
  ],
  // A record's number is the session's last one's next: an append writes no session row (one page fewer per commit).
  ['ALTER TABLE codecell_sessions DROP COLUMN next_seq'],
  // A key whose session ended keeps its last epoch and next cell id: a session created again under
  // it goes on from them (its calls' idempotency keys never repeat another lifetime's).
  [
    `CREATE TABLE codecell_retired (
      key TEXT PRIMARY KEY,
      epoch INTEGER NOT NULL,
      next_cell_id INTEGER NOT NULL
    ) WITHOUT ROWID`,
  ],
  // One lease per owner and lease length, which the sessions it renews follow (shared_lease_ms: its
  // length; 0 for a session on its own expiry): an owner's renewal writes one row, not one a session.
  [
    `CREATE TABLE codecell_leases (
      owner TEXT NOT NULL,
      lease_ms INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      PRIMARY KEY (owner, lease_ms)
    ) WITHOUT ROWID`,
    'ALTER TABLE codecell_sessions ADD COLUMN shared_lease_ms INTEGER NOT NULL DEFAULT 0',
    'CREATE INDEX codecell_sessions_owner ON codecell_sessions (owner)',
  ],
];

/** node:sqlite, loaded only when a SQLite store is made (Node warns that it is experimental). */
function sqlite(): typeof import('node:sqlite') {
  const module = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite') | undefined;
  if (module === undefined)
    throw new CodeCellError('ERR_UNSUPPORTED_NODE', 'sqliteStore needs node:sqlite (Node 22.13 or later)');
  return module;
}

/** The store's failure, as a CodeCellError naming its file (one of codecell's own passes as it is). */
export function storeFailure(path: string, error: unknown): Error {
  if (isCodeCellError(error)) return error;
  return new CodeCellError('ERR_STORE_FAILED', `the SQLite store ${path}: ${messageOf(error)}`, { cause: error });
}

/** Whether SQLite said another connection holds the lock (tried again, not waited for on this thread). */
export function isBusy(error: unknown): boolean {
  const { errcode, code } = (error ?? {}) as { errcode?: unknown; code?: unknown };
  // SQLITE_BUSY, and SQLITE_LOCKED for a lock held within this process; extended codes keep the low byte.
  const primary = typeof errcode === 'number' ? errcode & 0xff : undefined;
  return code === 'ERR_SQLITE_ERROR' && (primary === 5 || primary === 6);
}

/**
 * Opens the store's database at `path` (made if missing, readable by its user alone), in WAL mode,
 * at this codecell's schema — waiting up to `busyMs` for another process's lock while it does;
 * refuses, naming the file, what cannot be one.
 */
export function openDatabase(path: string, busyMs: number): { db: DatabaseSync; watch: () => void } {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path))
    throw invalidRequest(
      `sqliteStore takes a file's path, not a URL: ${path} (for PostgreSQL, postgresStore({ connectionString }))`,
    );
  const file = path !== ':memory:';
  if (file && !existsSync(dirname(path)))
    throw invalidRequest(`sqliteStore: the folder of ${path} does not exist (it is not made for you)`);
  // A new file is made readable by its user alone before SQLite opens it (its -wal and -shm follow it).
  if (file && !existsSync(path))
    try {
      closeSync(openSync(path, 'wx', 0o600));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw storeFailure(path, error);
    }
  let db: DatabaseSync | undefined;
  try {
    db = new (sqlite().DatabaseSync)(path, { timeout: busyMs });
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL');
    migrate(db, `the SQLite store ${path}`);
    // From now on a lock another process holds is waited for without holding this thread (sqliteStore's).
    db.exec('PRAGMA busy_timeout = 0');
  } catch (error) {
    db?.close();
    if (isCodeCellError(error)) throw error;
    throw storeFailure(path, error);
  }
  return { db, watch: file ? watchFile(path) : () => {} };
}

/**
 * A check that the file is still the one opened (throws ERR_STORE_FAILED once it was deleted or
 * replaced); it looks at most once a second.
 */
function watchFile(path: string): () => void {
  const { ino, dev } = statSync(path);
  let next = 0;
  return () => {
    const now = performance.now();
    if (now < next) return;
    next = now + 1_000;
    let gone: string | undefined;
    try {
      const seen = statSync(path);
      if (seen.ino !== ino || seen.dev !== dev) gone = 'was replaced by another file';
    } catch {
      gone = 'was deleted';
    }
    if (gone !== undefined)
      throw new CodeCellError('ERR_STORE_FAILED', `the SQLite store ${path} ${gone}: nothing more is written to it`);
  };
}

/** Brings the file's schema to this codecell's version, and tidies its owners' leases, in one transaction. */
function migrate(db: DatabaseSync, where: string): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec('CREATE TABLE IF NOT EXISTS codecell_schema (version INTEGER NOT NULL)');
    const row = db.prepare('SELECT version FROM codecell_schema').get() as { version: number } | undefined;
    const version = row?.version ?? 0;
    if (version > STORE_SCHEMA_VERSION) throw newerSchema(where, version);
    for (const steps of MIGRATIONS.slice(version)) for (const step of steps) db.exec(step);
    if (row === undefined) db.prepare('INSERT INTO codecell_schema (version) VALUES (?)').run(STORE_SCHEMA_VERSION);
    else db.prepare('UPDATE codecell_schema SET version = ?').run(STORE_SCHEMA_VERSION);
    // Owners' leases that ran out and that no session follows: a renewal by their owner makes them again.
    db.prepare(
      `DELETE FROM codecell_leases AS o WHERE expires_at < ? AND NOT EXISTS
       (SELECT 1 FROM codecell_sessions s WHERE s.owner = o.owner AND s.shared_lease_ms = o.lease_ms)`,
    ).run(Date.now());
    db.exec('COMMIT');
  } catch (error) {
    rollback(db);
    throw error;
  }
}

/** Rolls back the transaction under way, if one is (a failed COMMIT may have ended it already). */
export function rollback(db: DatabaseSync): void {
  try {
    db.exec('ROLLBACK');
  } catch {
    // No transaction was active: the error that led here is the one to tell.
  }
}
