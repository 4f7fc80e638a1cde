// The connections postgresStore writes through: the embedder's `pg` Pool, or one of its own made
// on first use (`pg` is an optional peer, loaded then); and a transaction on a connection one lends.
import { CodeCellError } from '../errors.js';

/** What postgresStore needs of a `pg` Pool (a Pool of `pg` 8 is one). */
export interface PostgresPool {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
  connect(): Promise<PostgresConnection>;
  end(): Promise<void>;
}

/** A connection the pool lends (a `pg` Client): `on`/`off` hear it fail while lent, when it can say so. */
export interface PostgresConnection {
  query: PostgresPool['query'];
  release(error?: Error | boolean): void;
  on?(event: 'error', listener: (error: Error) => void): unknown;
  off?(event: 'error', listener: (error: Error) => void): unknown;
}

export type Query = PostgresPool['query'];

/** Runs `work` in one transaction on a connection of the pool: all of it is committed, or none. */
export async function inTransaction(pool: PostgresPool, work: (query: Query) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  // A lent connection the server ends (a crash, a restart) says so as an 'error' event too, which
  // no pool listens for while it is lent — unheard, it would end the process. Its statement's
  // rejection is what fails the transaction.
  const lost = (): void => {};
  client.on?.('error', lost);
  try {
    await client.query('BEGIN');
    await work((text, values) => client.query(text, values));
    await client.query('COMMIT');
    client.off?.('error', lost);
    client.release();
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    // A connection that failed mid-transaction is not given back to the pool (and keeps `lost`:
    // its socket may say more as it closes).
    client.release(true);
    throw error;
  }
}

/** `pg`, loaded when a store makes its own pool. */
async function pgPool(connectionString: string, max: number): Promise<PostgresPool> {
  type OwnPool = PostgresPool & { on(event: 'error', listener: () => void): void };
  let pg: { Pool: new (config: { connectionString: string; max: number }) => OwnPool };
  try {
    pg = ((await import('pg')) as unknown as { default: typeof pg }).default;
  } catch {
    throw new CodeCellError('ERR_INVALID_REQUEST', 'postgresStore needs the pg package: npm install pg');
  }
  const pool = new pg.Pool({ connectionString, max });
  // An idle connection the server dropped (a restart) errs on the pool: the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

/** A pool of the store's own, made on first use (loading `pg` then). */
export class LazyPool implements PostgresPool {
  readonly #pool: Promise<PostgresPool>;

  constructor(connectionString: string, max: number) {
    this.#pool = pgPool(connectionString, max);
    // Its failure (pg missing) is each statement's: not one that nobody handles.
    this.#pool.catch(() => {});
  }

  async query(text: string, values?: unknown[]) {
    return (await this.#pool).query(text, values);
  }

  async connect() {
    return (await this.#pool).connect();
  }

  async end() {
    return (await this.#pool).end();
  }
}
