// postgresStore (SPEC §16): the store in PostgreSQL (13 or later) through `pg`, an optional peer
// loaded on first use — for a fleet of agent processes sharing sessions. Lease times are the
// server's clock, so the agents' clocks need not agree. Appends are committed in groups: those
// that arrive while one is under way go together in one statement (one commit, one round trip),
// whatever their sessions; each append's epoch is checked in that statement, row by row, so a
// fenced-off writer's records are refused without failing the others'.
import { CodeCellError, invalidRequest } from '../errors.js';
import { inTransaction, LazyPool, type PostgresPool, type Query } from './postgres-pool.js';
import { migrate, NOW } from './postgres-schema.js';
import { checkedStore, type StoreBackend, type StoredSessionRow, type WaitingAppend } from './checked-store.js';
import { sessionMoved, type CodeCellStore, type SessionSummary, type StoreLease } from './store.js';

export type { PostgresConnection, PostgresPool } from './postgres-pool.js';

/** What postgresStore takes: a connection string (a pool of its own), or your pool (left open by close()). */
export type PostgresStoreOptions = { connectionString: string; maxConnections?: number } | { pool: PostgresPool };

/**
 * When session `s`'s lease runs out: its own expiry or its owner's lease's, the later. The owner's
 * lease is read under a share lock, so a judgement waits for a renewal under way and sees it.
 */
const EXPIRES = `greatest(s.lease_expires_at, coalesce((SELECT o.expires_at FROM codecell_leases o
  WHERE o.owner = s.owner AND o.lease_ms = s.shared_lease_ms FOR SHARE), 0))`;

/**
 * The group commit: each append's session row updated where its epoch holds, and its records
 * inserted after it in order — only those of the appends whose (key, epoch) held, so a fenced-off
 * writer's append grouped with its successor's is refused, not written; it returns the appends
 * (by their place in the group) that held.
 */
const APPEND = `
  WITH batch AS (
    SELECT * FROM unnest($1::text[], $2::integer[], $3::integer[], $4::integer[])
      WITH ORDINALITY AS b(key, epoch, open_cells, paused_cells, n)
  ), held AS (
    UPDATE codecell_sessions s
    SET open_cells = coalesce(b.open_cells, s.open_cells), paused_cells = coalesce(b.paused_cells, s.paused_cells)
    FROM batch b WHERE s.key = b.key AND s.epoch = b.epoch
    RETURNING s.key, s.epoch
  ), added AS (
    INSERT INTO codecell_records (key, record)
    SELECT b.key, r.record
    FROM unnest($5::integer[], $6::text[]) WITH ORDINALITY AS r(append, record, n)
    JOIN batch b ON b.n = r.append
    WHERE (b.key, b.epoch) IN (SELECT key, epoch FROM held)
    ORDER BY r.n
    RETURNING 1
  )
  SELECT b.n FROM batch b WHERE (b.key, b.epoch) IN (SELECT key, epoch FROM held)`;

class PostgresBackend implements StoreBackend {
  readonly name: string;
  readonly #pool: PostgresPool;
  /** The pool is this store's (made from a connection string): close() ends it. */
  readonly #own: boolean;
  /** The schema, made or checked once before the first statement. */
  #ready: Promise<void> | undefined;
  #next: WaitingAppend[] = [];
  #writing: Promise<void> = Promise.resolve();

  constructor(pool: PostgresPool, own: boolean, name: string) {
    this.#pool = pool;
    this.#own = own;
    this.name = name;
  }

  async create(key: string, owner: string, leaseMs: number, metadata: string | null): Promise<StoreLease | undefined> {
    await this.#schema();
    let lease: StoreLease | undefined;
    // One transaction: a key whose session ended goes on from its last epoch and cell id (the
    // retired row stays: an adopter of the new session needs the id too, if it wrote none).
    await inTransaction(this.#pool, async (query) => {
      const { rows: retired } = await query(
        'SELECT epoch, next_cell_id FROM codecell_retired WHERE key = $1 FOR UPDATE',
        [key],
      );
      const last = retired[0];
      const epoch = last === undefined ? 1 : Number(last.epoch) + 1;
      const { rows } = await query(
        `INSERT INTO codecell_sessions (key, owner, epoch, lease_expires_at, metadata)
         VALUES ($1, $2, $3, ${NOW} + $4, $5) ON CONFLICT (key) DO NOTHING RETURNING lease_expires_at`,
        [key, owner, epoch, leaseMs, metadata],
      );
      const row = rows[0];
      if (row === undefined) return;
      lease = { key, owner, epoch, expiresAt: Number(row.lease_expires_at) };
      if (last !== undefined) lease.nextCellId = Number(last.next_cell_id);
    });
    return lease;
  }

  async adopt(key: string, owner: string, leaseMs: number): Promise<StoreLease | undefined> {
    const { rows } = await this.#query(
      `UPDATE codecell_sessions s SET owner = $2, epoch = epoch + 1, lease_expires_at = ${NOW} + $3, shared_lease_ms = 0
       WHERE key = $1 AND ${EXPIRES} <= ${NOW} RETURNING epoch, lease_expires_at,
       (SELECT next_cell_id FROM codecell_retired AS r WHERE r.key = $1) AS next_cell_id`,
      [key, owner, leaseMs],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const lease: StoreLease = { key, owner, epoch: Number(row.epoch), expiresAt: Number(row.lease_expires_at) };
    if (row.next_cell_id !== null) lease.nextCellId = Number(row.next_cell_id);
    return lease;
  }

  /**
   * One row written however many leases: the owner's lease of this length is extended (locked
   * first: an adopter judging a session that follows it waits for this renewal), the sessions
   * renewed follow it (each written once, when it starts to; a release — a lease of 1 ms — moves
   * its session to the owner's lease of that length, which runs out at once), and then, in a
   * statement of its own that sees every adoption committed before, those no longer held are read.
   */
  async renew(owner: string, leases: readonly { key: string; epoch: number }[], leaseMs: number): Promise<string[]> {
    if (leases.length === 0) return [];
    await this.#schema();
    const keys = leases.map((lease) => lease.key);
    const epochs = leases.map((lease) => lease.epoch);
    let lost: string[] = [];
    await inTransaction(this.#pool, async (query) => {
      await query(
        `INSERT INTO codecell_leases (owner, lease_ms, expires_at) VALUES ($1, $2::integer, ${NOW} + $2::integer)
         ON CONFLICT (owner, lease_ms) DO UPDATE SET expires_at = greatest(codecell_leases.expires_at, excluded.expires_at)`,
        [owner, leaseMs],
      );
      await query(
        `UPDATE codecell_sessions s SET shared_lease_ms = $2::integer, lease_expires_at = ${NOW} + $2::integer
         FROM unnest($3::text[], $4::integer[]) AS l(key, epoch)
         WHERE s.key = l.key AND s.epoch = l.epoch AND s.owner = $1 AND s.shared_lease_ms <> $2::integer`,
        [owner, leaseMs, keys, epochs],
      );
      const { rows } = await query(
        `SELECT l.key FROM unnest($2::text[], $3::integer[]) WITH ORDINALITY AS l(key, epoch, n)
         LEFT JOIN codecell_sessions s ON s.key = l.key AND s.epoch = l.epoch AND s.owner = $1
         WHERE s.key IS NULL ORDER BY l.n`,
        [owner, keys, epochs],
      );
      lost = rows.map((row) => row.key as string);
    });
    return lost;
  }

  async write(
    key: string,
    epoch: number,
    records: readonly string[],
    summary: SessionSummary | undefined,
    replace: boolean,
  ): Promise<void> {
    if (replace) return this.#rewrite(key, epoch, records, summary);
    const append: WaitingAppend = { key, epoch, records, summary, done: Promise.withResolvers<void>() };
    this.#next.push(append);
    // One group at a time: what arrives meanwhile goes in the next.
    if (this.#next.length === 1) this.#writing = this.#writing.then(() => this.#commit());
    return append.done.promise;
  }

  async records(key: string): Promise<string[] | undefined> {
    const { rows } = await this.#query(
      `SELECT r.record FROM codecell_sessions s LEFT JOIN codecell_records r ON r.key = s.key
       WHERE s.key = $1 ORDER BY r.seq`,
      [key],
    );
    if (rows.length === 0) return undefined;
    return rows.flatMap((row) => (row.record === null ? [] : [row.record as string]));
  }

  async sessions(): Promise<StoredSessionRow[]> {
    const { rows } = await this.#query(
      `SELECT s.key, s.owner, greatest(s.lease_expires_at, coalesce(o.expires_at, 0)) AS lease_expires_at,
       s.open_cells, s.paused_cells, s.metadata FROM codecell_sessions s
       LEFT JOIN codecell_leases o ON o.owner = s.owner AND o.lease_ms = s.shared_lease_ms ORDER BY s.key`,
    );
    return rows.map((row) => ({
      key: row.key as string,
      owner: row.owner as string,
      leaseExpiresAt: Number(row.lease_expires_at),
      openCells: Number(row.open_cells),
      pausedCells: Number(row.paused_cells),
      metadata: row.metadata as string | null,
    }));
  }

  async now(): Promise<number> {
    const { rows } = await this.#query(`SELECT ${NOW} AS now`);
    return Number(rows[0]?.now);
  }

  async remove(key: string, epoch: number, nextCellId: number): Promise<void> {
    await this.#transaction(key, epoch, async (query) => {
      await query('DELETE FROM codecell_records WHERE key = $1', [key]);
      await query('DELETE FROM codecell_sessions WHERE key = $1', [key]);
      await query(
        `INSERT INTO codecell_retired (key, epoch, next_cell_id) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET epoch = excluded.epoch,
         next_cell_id = greatest(codecell_retired.next_cell_id, excluded.next_cell_id)`,
        [key, epoch, nextCellId],
      );
    });
  }

  async close(): Promise<void> {
    await this.#writing;
    if (this.#own) await this.#pool.end();
  }

  /** Commits the appends waiting, in one statement. */
  async #commit(): Promise<void> {
    const group = this.#next;
    this.#next = [];
    const appends: number[] = [];
    const texts: string[] = [];
    for (const [index, { records }] of group.entries())
      for (const record of records) {
        appends.push(index + 1);
        texts.push(record);
      }
    try {
      const { rows } = await this.#query(APPEND, [
        group.map((each) => each.key),
        group.map((each) => each.epoch),
        group.map((each) => each.summary?.openCells ?? null),
        group.map((each) => each.summary?.pausedCells ?? null),
        appends,
        texts,
      ]);
      const held = new Set(rows.map((row) => Number(row.n)));
      for (const [index, each] of group.entries()) {
        if (held.has(index + 1)) each.done.resolve();
        else each.done.reject(await this.#moved(each.key, each.epoch));
      }
    } catch (error) {
      for (const each of group) each.done.reject(error);
    }
  }

  async #rewrite(key: string, epoch: number, records: readonly string[], summary: SessionSummary | undefined) {
    await this.#transaction(key, epoch, async (query) => {
      await query('DELETE FROM codecell_records WHERE key = $1', [key]);
      await query(
        `INSERT INTO codecell_records (key, record)
         SELECT $1, r.record FROM unnest($2::text[]) WITH ORDINALITY AS r(record, n) ORDER BY r.n`,
        [key, records],
      );
      if (summary !== undefined)
        await query('UPDATE codecell_sessions SET open_cells = $2, paused_cells = $3 WHERE key = $1', [
          key,
          summary.openCells,
          summary.pausedCells,
        ]);
    });
  }

  /** Runs `work` in one transaction, on the session's row locked at `epoch` (else sessionMoved). */
  async #transaction(key: string, epoch: number, work: (query: Query) => Promise<void>) {
    await this.#schema();
    await inTransaction(this.#pool, async (query) => {
      const { rows } = await query('SELECT epoch FROM codecell_sessions WHERE key = $1 FOR UPDATE', [key]);
      const current = rows[0] === undefined ? undefined : Number(rows[0].epoch);
      if (current !== epoch) throw sessionMoved(key, epoch, current);
      await work(query);
    });
  }

  /** The error for an append whose epoch no longer held. */
  async #moved(key: string, epoch: number): Promise<CodeCellError> {
    const { rows } = await this.#query('SELECT epoch FROM codecell_sessions WHERE key = $1', [key]);
    return sessionMoved(key, epoch, rows[0] === undefined ? undefined : Number(rows[0].epoch));
  }

  async #query(text: string, values?: unknown[]): ReturnType<PostgresPool['query']> {
    await this.#schema();
    return this.#pool.query(text, values);
  }

  /** The schema, made or checked once; a try that failed (the server away) is made again on the next use. */
  #schema(): Promise<void> {
    this.#ready ??= migrate(this.#pool, this.name).catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }
}

/**
 * A store in PostgreSQL (SPEC §16), its schema made and migrated on first use; a database of a
 * newer schema is refused (ERR_INVALID_REQUEST saying so). `pg` must be installed.
 */
export function postgresStore(options: PostgresStoreOptions): CodeCellStore {
  const given = options as Partial<{ connectionString: unknown; pool: unknown; maxConnections: unknown }> | null;
  if (given === null || typeof given !== 'object')
    throw invalidRequest('postgresStore takes { connectionString } or { pool }');
  if (given.pool !== undefined) {
    const pool = given.pool as Partial<PostgresPool> | null;
    if (pool === null || typeof pool.query !== 'function' || typeof pool.connect !== 'function')
      throw invalidRequest('postgresStore: pool must be a pg Pool (query, connect)');
    return checkedStore(new PostgresBackend(pool as PostgresPool, false, 'postgres (your pool)'));
  }
  const { connectionString, maxConnections = 4 } = given;
  if (typeof connectionString !== 'string' || connectionString === '')
    throw invalidRequest('postgresStore takes { connectionString } or { pool }');
  if (!Number.isSafeInteger(maxConnections) || (maxConnections as number) < 1)
    throw invalidRequest('postgresStore: maxConnections must be an integer >= 1');
  const pool = new LazyPool(connectionString, maxConnections as number);
  return checkedStore(new PostgresBackend(pool, true, where(connectionString)));
}

/** The store's name in messages: `postgres <host>/<database>` (no user, no password). */
function where(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    return `postgres ${url.host}${url.pathname}`;
  } catch {
    return 'postgres';
  }
}
