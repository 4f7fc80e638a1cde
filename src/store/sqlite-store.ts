// sqliteStore (SPEC §16): the store in one SQLite file through node:sqlite — nothing to build or
// install. WAL with synchronous=NORMAL: a committed write is in the file's log before the call
// returns, so it survives a kill -9 of the process (not a power cut before the OS wrote it out).
// Processes of one machine may share the file: each write is one IMMEDIATE transaction, and the
// epoch check inside it is what fences a former owner off; a lock another process holds is tried
// again on timers (never waited for on this thread), for as long as busyTimeoutMs. The first append
// of a turn of the event loop is committed at once; those made after it in the same turn
// (concurrent calls of many sessions) wait for the turn's end and share one commit. Opening the
// file, and what is said when it fails, is sqlite-file.ts's.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { invalidRequest } from '../errors.js';
import {
  checkedStore,
  type StoreBackend,
  type StoredSessionRow,
  type StoreWrite,
  type WaitingAppend,
} from './checked-store.js';
import { isBusy, openDatabase, rollback, storeFailure } from './sqlite-file.js';
import { sessionMoved, type CodeCellStore, type SessionSummary, type StoreLease } from './store.js';

/** What sqliteStore takes. */
export interface SqliteStoreOptions {
  /** The database file (made if missing, readable by its user alone), or ':memory:'. */
  path: string;
  /** How long a write waits for another process's transaction on the file (default 5 000 ms). */
  busyTimeoutMs?: number;
}

type Statements = Record<
  | 'session'
  | 'insertSession'
  | 'lease'
  | 'share'
  | 'held'
  | 'follow'
  | 'insertRecord'
  | 'lastSeq'
  | 'epoch'
  | 'summary'
  | 'records'
  | 'sessions'
  | 'clear'
  | 'removeSession'
  | 'retired'
  | 'retire',
  StatementSync
>;

/** The sessions, each with the lease of its owner it follows (SPEC §16: one row renewed per owner). */
const WITH_LEASES = `codecell_sessions s LEFT JOIN codecell_leases o ON o.owner = s.owner AND o.lease_ms = s.shared_lease_ms`;
/** A session's lease runs out at its own expiry or its owner's lease's, the later. */
const EXPIRES = 'max(s.lease_expires_at, coalesce(o.expires_at, 0))';

class SqliteBackend implements StoreBackend {
  readonly name: string;
  readonly #path: string;
  readonly #db: DatabaseSync;
  readonly #sql: Statements;
  /** How long a transaction is tried again while another connection holds the lock. */
  readonly #busyMs: number;
  /** Throws once the file was deleted or replaced under the store. */
  readonly #watch: () => void;
  /** Group commits under way (close waits for them). */
  readonly #committing = new Set<Promise<void>>();
  /** Each session's open and paused cells as last written here (an unchanged summary is not written again). */
  readonly #summaries = new Map<string, string>();
  /**
   * Each session's next record number under the epoch that wrote it here: an append under the same
   * epoch (checked in its transaction) follows it without reading the log's last number. Another
   * writer of the key has another epoch, so none can have appended meanwhile.
   */
  readonly #nextSeqs = new Map<string, { epoch: number; seq: number }>();
  /** Once an append was committed in this turn, those made after it, committed together at its end. */
  #group: WaitingAppend[] | undefined;

  constructor(db: DatabaseSync, path: string, busyMs: number, watch: () => void) {
    this.name = `sqlite ${path}`;
    this.#path = path;
    this.#db = db;
    this.#busyMs = busyMs;
    this.#watch = watch;
    this.#sql = {
      session: db.prepare(
        `SELECT s.owner, s.epoch, ${EXPIRES} AS lease_expires_at FROM ${WITH_LEASES} WHERE s.key = ?`,
      ),
      insertSession: db.prepare(
        'INSERT INTO codecell_sessions (key, owner, epoch, lease_expires_at, metadata) VALUES (?, ?, ?, ?, ?)',
      ),
      lease: db.prepare(
        'UPDATE codecell_sessions SET owner = ?, epoch = ?, lease_expires_at = ?, shared_lease_ms = 0 WHERE key = ?',
      ),
      // An owner's lease of one length, extended (never shortened: another renewal may have promised more).
      share: db.prepare(
        `INSERT INTO codecell_leases (owner, lease_ms, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (owner, lease_ms) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
      ),
      // Of the leases renewed (keys and epochs as one JSON array), those the owner holds no more
      // (shared: null) and those that do not follow its lease of this length yet.
      held: db.prepare(
        `SELECT l.value ->> 0 AS key, s.shared_lease_ms AS shared FROM json_each(?) AS l
         LEFT JOIN codecell_sessions s ON s.key = l.value ->> 0 AND s.epoch = l.value ->> 1 AND s.owner = ?
         WHERE s.key IS NULL OR s.shared_lease_ms <> ?`,
      ),
      follow: db.prepare('UPDATE codecell_sessions SET shared_lease_ms = ?, lease_expires_at = ? WHERE key = ?'),
      insertRecord: db.prepare('INSERT INTO codecell_records (key, seq, record) VALUES (?, ?, ?)'),
      lastSeq: db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM codecell_records WHERE key = ?'),
      // The fencing check of every append: the epoch alone. (node:sqlite's SQLite prepares the
      // session query above again at each run, and lastSeq too: ~45 k instructions a time.)
      epoch: db.prepare('SELECT epoch FROM codecell_sessions WHERE key = ?'),
      summary: db.prepare('UPDATE codecell_sessions SET open_cells = ?, paused_cells = ? WHERE key = ?'),
      records: db.prepare('SELECT record FROM codecell_records WHERE key = ? ORDER BY seq'),
      sessions: db.prepare(
        `SELECT s.key, s.owner, ${EXPIRES} AS lease_expires_at, s.open_cells, s.paused_cells, s.metadata
         FROM ${WITH_LEASES} ORDER BY s.key`,
      ),
      clear: db.prepare('DELETE FROM codecell_records WHERE key = ?'),
      removeSession: db.prepare('DELETE FROM codecell_sessions WHERE key = ?'),
      retired: db.prepare('SELECT epoch, next_cell_id FROM codecell_retired WHERE key = ?'),
      // Ids never go back (a key's earlier lifetime may have had more cells than its last one).
      retire: db.prepare(
        `INSERT INTO codecell_retired (key, epoch, next_cell_id) VALUES (?, ?, ?) ON CONFLICT (key)
         DO UPDATE SET epoch = excluded.epoch, next_cell_id = max(next_cell_id, excluded.next_cell_id)`,
      ),
    };
  }

  create(key: string, owner: string, leaseMs: number, metadata: string | null): Promise<StoreLease | undefined> {
    return this.#write(() => {
      if (this.#sql.session.get(key) !== undefined) return undefined;
      const expiresAt = Date.now() + leaseMs;
      // A key whose session ended goes on from its last epoch and cell id (kept for an adopter too).
      const retired = this.#sql.retired.get(key) as { epoch: number; next_cell_id: number } | undefined;
      const epoch = (retired?.epoch ?? 0) + 1;
      this.#sql.insertSession.run(key, owner, epoch, expiresAt, metadata);
      const lease = { key, owner, epoch, expiresAt };
      return retired === undefined ? lease : { ...lease, nextCellId: retired.next_cell_id };
    });
  }

  adopt(key: string, owner: string, leaseMs: number): Promise<StoreLease | undefined> {
    return this.#write(() => {
      const row = this.#sql.session.get(key) as { epoch: number; lease_expires_at: number } | undefined;
      const now = Date.now();
      if (row === undefined || row.lease_expires_at > now) return undefined;
      const lease = { key, owner, epoch: row.epoch + 1, expiresAt: now + leaseMs };
      this.#sql.lease.run(owner, lease.epoch, lease.expiresAt, key);
      this.#summaries.delete(key);
      const retired = this.#sql.retired.get(key) as { next_cell_id: number } | undefined;
      return retired === undefined ? lease : { ...lease, nextCellId: retired.next_cell_id };
    });
  }

  /**
   * One row written however many leases: the owner's lease of this length is extended, and the
   * sessions renewed follow it (each written once, when it starts to; a release — a lease of
   * 1 ms — moves its session to the owner's lease of that length, which runs out at once).
   */
  renew(owner: string, leases: readonly { key: string; epoch: number }[], leaseMs: number): Promise<string[]> {
    if (leases.length === 0) return Promise.resolve([]);
    return this.#write(() => {
      const expiresAt = Date.now() + leaseMs;
      this.#sql.share.run(owner, leaseMs, expiresAt);
      const pairs = JSON.stringify(leases.map(({ key, epoch }) => [key, epoch]));
      const lost: string[] = [];
      for (const { key, shared } of this.#sql.held.all(pairs, owner, leaseMs) as {
        key: string;
        shared: number | null;
      }[])
        if (shared === null) lost.push(key);
        else this.#sql.follow.run(leaseMs, expiresAt, key);
      return lost;
    });
  }

  write(
    key: string,
    epoch: number,
    records: readonly string[],
    summary: SessionSummary | undefined,
    replace: boolean,
  ): Promise<void> {
    if (replace) {
      this.#flush();
      return this.#commitNow({ key, epoch, records, summary }, true);
    }
    if (this.#group === undefined) {
      this.#group = [];
      setImmediate(() => this.#flush());
      return this.#commitNow({ key, epoch, records, summary }, false);
    }
    const append = { key, epoch, records, summary, done: Promise.withResolvers<void>() };
    this.#group.push(append);
    return append.done.promise;
  }

  records(key: string): Promise<string[] | undefined> {
    this.#flush();
    return this.#retrying('BEGIN', () =>
      this.#sql.session.get(key) === undefined
        ? undefined
        : (this.#sql.records.all(key) as { record: string }[]).map((row) => row.record),
    );
  }

  sessions(): Promise<StoredSessionRow[]> {
    type Row = {
      key: string;
      owner: string;
      lease_expires_at: number;
      open_cells: number;
      paused_cells: number;
      metadata: string | null;
    };
    this.#flush();
    return this.#retrying('BEGIN', () =>
      (this.#sql.sessions.all() as Row[]).map((row) => ({
        key: row.key,
        owner: row.owner,
        leaseExpiresAt: row.lease_expires_at,
        openCells: row.open_cells,
        pausedCells: row.paused_cells,
        metadata: row.metadata,
      })),
    );
  }

  now(): number {
    return Date.now();
  }

  remove(key: string, epoch: number, nextCellId: number): Promise<void> {
    return this.#write(() => {
      const moved = this.#moved(key, epoch);
      if (moved !== undefined) throw moved;
      this.#sql.clear.run(key);
      this.#sql.removeSession.run(key);
      this.#sql.retire.run(key, epoch, nextCellId);
      this.#summaries.delete(key);
      this.#nextSeqs.delete(key);
    });
  }

  async close(): Promise<void> {
    this.#flush();
    await Promise.all(this.#committing);
    this.#db.close();
  }

  /** Why a write under `epoch` is refused (inside a transaction): undefined while it is the session's. */
  #moved(key: string, epoch: number): Error | undefined {
    const row = this.#sql.epoch.get(key) as { epoch: number } | undefined;
    return row === undefined || row.epoch !== epoch ? sessionMoved(key, epoch, row?.epoch) : undefined;
  }

  /** Commits the appends waiting (each other write starts it first: the order they were made in holds). */
  #flush(): void {
    const group = this.#group;
    this.#group = undefined;
    if (group === undefined || group.length === 0) return;
    const committed = this.#commit(group, false).then(
      (refused) => {
        for (const append of group) {
          const error = refused.get(append);
          if (error === undefined) append.done.resolve();
          else append.done.reject(error);
        }
      },
      (error: unknown) => {
        for (const append of group) append.done.reject(error);
      },
    );
    this.#committing.add(committed);
    void committed.finally(() => this.#committing.delete(committed));
  }

  /** Commits `write` on its own (no append waiting before it); rejects with sessionMoved when refused. */
  async #commitNow(write: StoreWrite, replace: boolean): Promise<void> {
    const [refused] = (await this.#commit([write], replace)).values();
    if (refused !== undefined) throw refused;
  }

  /**
   * Writes each of `writes` whose epoch is still its session's (`replace`: in place of its log),
   * in one transaction; returns those refused (sessionMoved), or throws when nothing could be.
   */
  async #commit(writes: readonly StoreWrite[], replace: boolean): Promise<Map<StoreWrite, Error>> {
    const refused = new Map<StoreWrite, Error>();
    const summaries = new Map<string, string>();
    const next = new Map<string, { epoch: number; seq: number }>();
    try {
      await this.#retrying('BEGIN IMMEDIATE', () => {
        // A transaction tried again starts over.
        refused.clear();
        summaries.clear();
        next.clear();
        for (const write of writes) {
          const { key, epoch, records, summary } = write;
          const moved = this.#moved(key, epoch);
          if (moved !== undefined) {
            refused.set(write, moved);
            continue;
          }
          let seq = next.get(key)?.seq ?? this.#nextSeq(key, epoch);
          if (replace) this.#sql.clear.run(key);
          for (const record of records) this.#sql.insertRecord.run(key, seq++, record);
          next.set(key, { epoch, seq });
          if (summary === undefined) continue;
          const figures = `${summary.openCells}/${summary.pausedCells}`;
          if (figures === (summaries.get(key) ?? this.#summaries.get(key))) continue;
          this.#sql.summary.run(summary.openCells, summary.pausedCells, key);
          summaries.set(key, figures);
        }
      });
    } catch (error) {
      for (const { key } of writes) this.#nextSeqs.delete(key);
      throw error;
    }
    // Bounds: forgetting costs one update (a summary) or one read (a number).
    if (this.#summaries.size + summaries.size > 10_000) this.#summaries.clear();
    for (const [key, figures] of summaries) this.#summaries.set(key, figures);
    if (this.#nextSeqs.size + next.size > 10_000) this.#nextSeqs.clear();
    for (const [key, seq] of next) this.#nextSeqs.set(key, seq);
    return refused;
  }

  /** The key's next record number under `epoch` (inside the transaction that checked the epoch). */
  #nextSeq(key: string, epoch: number): number {
    const known = this.#nextSeqs.get(key);
    if (known?.epoch === epoch) return known.seq;
    return (this.#sql.lastSeq.get(key) as { seq: number }).seq + 1;
  }

  /** Runs `work` in one IMMEDIATE transaction, after the appends waiting: all of it is committed, or none. */
  #write<T>(work: () => T): Promise<T> {
    this.#flush();
    return this.#retrying('BEGIN IMMEDIATE', work);
  }

  /**
   * Runs `work` in one transaction (`begin`: a read takes no write lock), tried again on timers
   * while another connection holds the file's lock, for as long as busyTimeoutMs — this thread
   * never waits on it. A failure names the file (ERR_STORE_FAILED); the store's own refusals
   * (sessionMoved) pass as they are.
   */
  async #retrying<T>(begin: 'BEGIN' | 'BEGIN IMMEDIATE', work: () => T): Promise<T> {
    const until = performance.now() + this.#busyMs;
    for (let pause = 1; ; pause = Math.min(2 * pause, 50)) {
      try {
        this.#watch();
        return this.#transaction(begin, work);
      } catch (error) {
        if (!isBusy(error) || performance.now() + pause > until) throw storeFailure(this.#path, error);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  #transaction<T>(begin: 'BEGIN' | 'BEGIN IMMEDIATE', work: () => T): T {
    this.#db.exec(begin);
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      rollback(this.#db);
      throw error;
    }
  }
}

/**
 * A store in one SQLite file (SPEC §16), made (readable by its user alone) and migrated to this
 * codecell's schema on first use; a file of a newer schema is refused (ERR_INVALID_REQUEST saying
 * so), and every failure names the file.
 */
export function sqliteStore(options: SqliteStoreOptions): CodeCellStore {
  if (options === null || typeof options !== 'object' || typeof options.path !== 'string' || options.path === '')
    throw invalidRequest('sqliteStore takes { path }: the database file');
  const busy = options.busyTimeoutMs ?? 5_000;
  if (!Number.isSafeInteger(busy) || busy < 0) throw invalidRequest('busyTimeoutMs must be an integer >= 0');
  const { db, watch } = openDatabase(options.path, busy);
  return checkedStore(new SqliteBackend(db, options.path, busy, watch));
}
