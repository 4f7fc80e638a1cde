// postgresStore's schema (SPEC §16): its tables, each version's steps, and the migration that
// brings a database to this codecell's version (one migrator at a time) and tidies its owners'
// leases. postgres-store.ts holds the statements that use them.
import { inTransaction, type PostgresPool } from './postgres-pool.js';
import { newerSchema, STORE_SCHEMA_VERSION } from './store.js';

/** The server's clock, in ms since the epoch. */
export const NOW = `(extract(epoch from now()) * 1000)::bigint`;

/** Each version's schema steps, in order: a store at version n runs the steps after n. */
const MIGRATIONS: readonly string[][] = [
  [
    `CREATE TABLE codecell_sessions (
      key text PRIMARY KEY,
      owner text NOT NULL,
      epoch integer NOT NULL,
      lease_expires_at bigint NOT NULL,
      open_cells integer NOT NULL DEFAULT 0,
      paused_cells integer NOT NULL DEFAULT 0,
      metadata text
    )`,
    `CREATE TABLE codecell_records (
      key text NOT NULL,
      seq bigserial,
      record text NOT NULL,
      PRIMARY KEY (key, seq)
    )`,
  ],
  [], // version 2 changed SQLite's layout only
  // A key whose session ended keeps its last epoch and next cell id (its next session goes on from them).
  [
    `CREATE TABLE codecell_retired (
      key text PRIMARY KEY,
      epoch integer NOT NULL,
      next_cell_id bigint NOT NULL
    )`,
  ],
  // One lease per owner and lease length, which the sessions it renews follow (shared_lease_ms: its
  // length; 0 for a session on its own expiry): an owner's renewal writes one row, not one a session.
  [
    `CREATE TABLE codecell_leases (
      owner text NOT NULL,
      lease_ms integer NOT NULL,
      expires_at bigint NOT NULL,
      PRIMARY KEY (owner, lease_ms)
    )`,
    'ALTER TABLE codecell_sessions ADD COLUMN shared_lease_ms integer NOT NULL DEFAULT 0',
    'CREATE INDEX codecell_sessions_owner ON codecell_sessions (owner)',
  ],
];

/** Brings the database's schema to this codecell's version and tidies its owners' leases, in one transaction. */
export function migrate(pool: PostgresPool, where: string): Promise<void> {
  return inTransaction(pool, async (query) => {
    // Agents starting together: one migrates, the others wait and find it done.
    await query(`SELECT pg_advisory_xact_lock(hashtext('codecell_schema'))`);
    await query('CREATE TABLE IF NOT EXISTS codecell_schema (version integer NOT NULL)');
    const { rows } = await query('SELECT max(version) AS version FROM codecell_schema');
    const version = rows[0]?.version === null || rows[0] === undefined ? 0 : Number(rows[0].version);
    if (version > STORE_SCHEMA_VERSION) throw newerSchema(where, version);
    for (const steps of MIGRATIONS.slice(version)) for (const step of steps) await query(step);
    if (version < STORE_SCHEMA_VERSION) {
      await query('DELETE FROM codecell_schema');
      await query('INSERT INTO codecell_schema (version) VALUES ($1)', [STORE_SCHEMA_VERSION]);
    }
    // Owners' leases that ran out and that no session follows: a renewal by their owner makes them again.
    await query(
      `DELETE FROM codecell_leases o WHERE expires_at < ${NOW} AND NOT EXISTS
       (SELECT 1 FROM codecell_sessions s WHERE s.owner = o.owner AND s.shared_lease_ms = o.lease_ms)`,
    );
  });
}
