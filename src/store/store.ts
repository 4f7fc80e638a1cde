// What a store keeps of a session (SPEC §16), and the one interface every store implements: a
// lease per session with a fencing epoch, and the session's write-ahead records in order. The
// records are JSON texts the runtime writes and reads; a store keeps them as they are, so a store
// for another database is the same seven methods over two tables (docs/adr-0021-stores.md).
import { CodeCellError, invalidRequest, messageOf } from '../errors.js';
import { toJsonText } from '../json.js';
import type { JsonValue } from '../types.js';
import { checkSessionKey } from '../validate.js';

/** The schema version the stores of this codecell create; a store of a newer one is refused. */
export const STORE_SCHEMA_VERSION = 4;

/** How long a lease lasts unless renewed (SPEC §16: renewed well before it runs out). */
export const DEFAULT_LEASE_MS = 10_000;

/** A session as `store.sessions()` lists it. */
export interface StoredSessionInfo {
  key: string;
  /** The process that holds (or last held) its lease. */
  owner: string;
  /** When its lease runs out (ms since the epoch, by the store's clock). */
  leaseExpiresAt: number;
  openCells: number;
  pausedCells: number;
  /** What the session was created with as `metadata` (null without). */
  metadata: JsonValue | null;
  /** Why this codecell cannot read the session's row (its metadata is not JSON): a recovery skips it, saying so. */
  unreadable?: string;
}

/** A lease on a session: its epoch fences off every earlier holder's writes. */
export interface StoreLease {
  key: string;
  owner: string;
  epoch: number;
  expiresAt: number;
  /**
   * A session under the key of one that ended (`remove`): the id its first cell gets, after the
   * ended one's, so no call of the key ever has another's idempotency key. `create` and `adopt`
   * both say it (an adopter may find nothing of the session written yet).
   */
  nextCellId?: number;
}

/** What `sessions()` lists of a session besides its lease, as its writer last said it. */
export interface SessionSummary {
  openCells: number;
  pausedCells: number;
}

/** Where sessions outlive their agent process (SPEC §16): memoryStore, sqliteStore, postgresStore or your own. */
export interface CodeCellStore {
  /** What it is, for messages ('memory', 'sqlite <path>', …). */
  readonly name: string;
  /**
   * A new session under `owner`'s lease, epoch 1 — or, under the key of a session that ended, the
   * epoch after its last and its `nextCellId`; ERR_INVALID_REQUEST when the key is taken.
   */
  create(key: string, owner: string, leaseMs: number, metadata: JsonValue | null): Promise<StoreLease>;
  /**
   * Takes a session whose lease ran out, with the next epoch (its former holder can write no
   * more) and, under a key whose earlier session ended, `nextCellId`; undefined while its lease
   * holds, or when there is no such session.
   */
  adopt(key: string, owner: string, leaseMs: number): Promise<StoreLease | undefined>;
  /** Extends the leases `owner` holds at these epochs; returns the keys it no longer holds. */
  renew(owner: string, leases: readonly { key: string; epoch: number }[], leaseMs: number): Promise<string[]>;
  /**
   * Appends records to the session, all or none, once they are durable (a committed write
   * survives a kill -9 of the process); ERR_SESSION_MOVED when `epoch` is no longer the session's.
   */
  append(key: string, epoch: number, records: readonly string[], summary?: SessionSummary): Promise<void>;
  /** Replaces the session's records with `records` (what a compaction keeps), as append does. */
  rewrite(key: string, epoch: number, records: readonly string[], summary?: SessionSummary): Promise<void>;
  /** The session's records in the order they were written; undefined when there is no such session. */
  records(key: string): Promise<string[] | undefined>;
  sessions(): Promise<StoredSessionInfo[]>;
  /**
   * The store's clock (ms since the epoch), by which leases run out: a recovery judges
   * `leaseExpiresAt` by it, so agents' clocks need not agree. Optional: without it, the agent's.
   */
  now?(): Promise<number>;
  /**
   * The session ended: it and its records go (ERR_SESSION_MOVED when `epoch` is not its own); the
   * key keeps its last epoch and `nextCellId` (the id its next session's first cell gets), never
   * a lower id than the key kept before.
   */
  remove(key: string, epoch: number, nextCellId?: number): Promise<void>;
  close(): Promise<void>;
}

/** The error a fenced-off writer gets: another process adopted the session. */
export const sessionMoved = (key: string, epoch: number, current: number | undefined): CodeCellError =>
  new CodeCellError(
    'ERR_SESSION_MOVED',
    current === undefined
      ? `session ${key} is no longer in the store`
      : `session ${key} moved: another process adopted it (epoch ${current}; this one holds ${epoch})`,
  );

/** A store used after its close(). */
export const storeClosed = (name: string): CodeCellError =>
  new CodeCellError('ERR_SHUTTING_DOWN', `the ${name} store is closed`);

/** A newer codecell made the store's schema: this one does not know its layout. */
export const newerSchema = (where: string, version: number): CodeCellError =>
  invalidRequest(
    `${where} has schema version ${version}; this codecell knows versions up to ${STORE_SCHEMA_VERSION}: upgrade codecell to use it`,
  );

/** Checks a store method's arguments (every store's public methods take the same). */
export const storeArgs = {
  /** A session key, of the form SessionRuntime's `key` takes. */
  key(value: unknown): string {
    return checkSessionKey(value ?? null, 'key') as string;
  },
  owner(value: unknown): string {
    if (typeof value !== 'string' || value === '' || value.length > 200)
      throw invalidRequest('owner must be a string of 1-200 characters');
    return value;
  },
  nextCellId(value: unknown): number {
    if (value === undefined) return 1;
    if (!Number.isSafeInteger(value) || (value as number) < 1)
      throw invalidRequest('nextCellId must be an integer >= 1');
    return value as number;
  },
  epoch(value: unknown): number {
    if (!Number.isSafeInteger(value) || (value as number) < 1) throw invalidRequest('epoch must be an integer >= 1');
    return value as number;
  },
  leaseMs(value: unknown): number {
    if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > 86_400_000)
      throw invalidRequest('leaseMs must be an integer from 1 to 86400000');
    return value as number;
  },
  records(value: unknown): readonly string[] {
    if (!Array.isArray(value) || !value.every((record) => typeof record === 'string'))
      throw invalidRequest('records must be an array of strings (JSON texts)');
    return value as string[];
  },
  summary(value: unknown): SessionSummary | undefined {
    if (value === undefined) return undefined;
    const { openCells, pausedCells } = (value ?? {}) as Partial<SessionSummary>;
    if (!Number.isSafeInteger(openCells) || !Number.isSafeInteger(pausedCells))
      throw invalidRequest('summary must be { openCells, pausedCells } (integers)');
    return { openCells: openCells as number, pausedCells: pausedCells as number };
  },
  metadata(value: unknown): string | null {
    if (value === undefined || value === null) return null;
    // What JSON.stringify would drop silently (a function, at any depth) is refused, named.
    try {
      return toJsonText(value);
    } catch (error) {
      throw invalidRequest(`metadata must be a JSON value: ${messageOf(error)}`);
    }
  },
  leases(value: unknown): readonly { key: string; epoch: number }[] {
    if (!Array.isArray(value)) throw invalidRequest('leases must be an array of { key, epoch }');
    return value.map((lease: { key?: unknown; epoch?: unknown } | null) => ({
      key: storeArgs.key(lease?.key),
      epoch: storeArgs.epoch(lease?.epoch),
    }));
  },
};
