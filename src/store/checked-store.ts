// The store contract's checks, made once for every store: its arguments (ERR_INVALID_REQUEST
// saying which is wrong), a store used after close() (ERR_SHUTTING_DOWN), a key already taken.
// A store's own part (StoreBackend) gets checked values and keeps only what is its own: where the
// rows live and how a write is made all-or-none with its epoch check.
import { invalidRequest, messageOf } from '../errors.js';
import type { JsonValue } from '../types.js';
import {
  storeArgs as check,
  storeClosed,
  type CodeCellStore,
  type SessionSummary,
  type StoreLease,
  type StoredSessionInfo,
} from './store.js';

type Awaitable<T> = T | Promise<T>;

/** A session as a backend lists it: its metadata as the JSON text it was given. */
export type StoredSessionRow = Omit<StoredSessionInfo, 'metadata'> & { metadata: string | null };

/** Records written to a session under an epoch (a backend's write, its arguments checked). */
export interface StoreWrite {
  key: string;
  epoch: number;
  records: readonly string[];
  summary: SessionSummary | undefined;
}

/** An append waiting for the group commit it goes in (a backend that commits appends together). */
export interface WaitingAppend extends StoreWrite {
  done: PromiseWithResolvers<void>;
}

/** A store's own part, its arguments checked (see CodeCellStore for what each does). */
export interface StoreBackend {
  readonly name: string;
  /** A new session, epoch 1; undefined when the key is taken. */
  create(key: string, owner: string, leaseMs: number, metadata: string | null): Awaitable<StoreLease | undefined>;
  adopt(key: string, owner: string, leaseMs: number): Awaitable<StoreLease | undefined>;
  renew(owner: string, leases: readonly { key: string; epoch: number }[], leaseMs: number): Awaitable<string[]>;
  /** Adds the records (`replace`: in place of the log), all or none, only under the epoch (else sessionMoved). */
  write(
    key: string,
    epoch: number,
    records: readonly string[],
    summary: SessionSummary | undefined,
    replace: boolean,
  ): Awaitable<void>;
  records(key: string): Awaitable<string[] | undefined>;
  sessions(): Awaitable<StoredSessionRow[]>;
  /** The store's clock, by which its leases run out (ms since the epoch). */
  now(): Awaitable<number>;
  /** Removes the session, keeping its key's last epoch and next cell id (what `create` goes on from). */
  remove(key: string, epoch: number, nextCellId: number): Awaitable<void>;
  close(): Awaitable<void>;
}

class CheckedStore implements CodeCellStore {
  readonly #backend: StoreBackend;
  #closed = false;

  constructor(backend: StoreBackend) {
    this.#backend = backend;
  }

  get name(): string {
    return this.#backend.name;
  }

  async create(key: string, owner: string, leaseMs: number, metadata: JsonValue | null): Promise<StoreLease> {
    const k = check.key(key);
    const args = [check.owner(owner), check.leaseMs(leaseMs), check.metadata(metadata)] as const;
    const lease = await this.#open().create(k, ...args);
    if (lease === undefined)
      throw invalidRequest(
        `session ${k} is in the store already: if its owner is gone, SessionRuntime.recover (or a ` +
          `HostClient's recover) adopts it once its lease ends`,
      );
    return lease;
  }

  async adopt(key: string, owner: string, leaseMs: number): Promise<StoreLease | undefined> {
    return this.#open().adopt(check.key(key), check.owner(owner), check.leaseMs(leaseMs));
  }

  async renew(owner: string, leases: readonly { key: string; epoch: number }[], leaseMs: number): Promise<string[]> {
    return this.#open().renew(check.owner(owner), check.leases(leases), check.leaseMs(leaseMs));
  }

  async append(key: string, epoch: number, records: readonly string[], summary?: SessionSummary): Promise<void> {
    return this.#write(key, epoch, records, summary, false);
  }

  async rewrite(key: string, epoch: number, records: readonly string[], summary?: SessionSummary): Promise<void> {
    return this.#write(key, epoch, records, summary, true);
  }

  async records(key: string): Promise<string[] | undefined> {
    return this.#open().records(check.key(key));
  }

  async sessions(): Promise<StoredSessionInfo[]> {
    const rows = await this.#open().sessions();
    // One row that does not read (written by hand, by another program) is said, never fatal to the list.
    return rows.map((row) => {
      if (row.metadata === null) return { ...row, metadata: null };
      try {
        return { ...row, metadata: JSON.parse(row.metadata) as JsonValue };
      } catch (error) {
        return { ...row, metadata: null, unreadable: `its metadata is not JSON (${messageOf(error)})` };
      }
    });
  }

  async now(): Promise<number> {
    return this.#open().now();
  }

  async remove(key: string, epoch: number, nextCellId?: number): Promise<void> {
    return this.#open().remove(check.key(key), check.epoch(epoch), check.nextCellId(nextCellId));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#backend.close();
  }

  #write(key: string, epoch: number, records: readonly string[], summary: unknown, replace: boolean): Awaitable<void> {
    const args = [check.key(key), check.epoch(epoch), check.records(records), check.summary(summary)] as const;
    return this.#open().write(...args, replace);
  }

  #open(): StoreBackend {
    if (this.#closed) throw storeClosed(this.#backend.name);
    return this.#backend;
  }
}

/** A CodeCellStore over `backend`, with the contract's checks made here. */
export function checkedStore(backend: StoreBackend): CodeCellStore {
  return new CheckedStore(backend);
}
