// memoryStore (SPEC §16): the store interface in this process's memory. Sessions in it outlive
// their SessionRuntime or HostClient, not the process: what it is for is a recovery within one
// process, and tests of what a store sees.
import { invalidRequest } from '../errors.js';
import type { JsonValue } from '../types.js';
import {
  sessionMoved,
  storeArgs as check,
  storeClosed,
  type CodeCellStore,
  type SessionSummary,
  type StoreLease,
  type StoredSessionInfo,
} from './store.js';

interface Row {
  owner: string;
  epoch: number;
  expiresAt: number;
  summary: SessionSummary;
  metadata: string | null;
  records: string[];
}

class MemoryStore implements CodeCellStore {
  readonly name = 'memory';
  readonly #rows = new Map<string, Row>();
  #closed = false;

  async create(key: string, owner: string, leaseMs: number, metadata: JsonValue | null): Promise<StoreLease> {
    this.#open();
    const [k, o, ms, meta] = [check.key(key), check.owner(owner), check.leaseMs(leaseMs), check.metadata(metadata)];
    if (this.#rows.has(k)) throw invalidRequest(`session ${k} is in the store already`);
    const row = {
      owner: o,
      epoch: 1,
      expiresAt: Date.now() + ms,
      summary: { openCells: 0, pausedCells: 0 },
      metadata: meta,
      records: [],
    };
    this.#rows.set(k, row);
    return { key: k, owner: o, epoch: 1, expiresAt: row.expiresAt };
  }

  async adopt(key: string, owner: string, leaseMs: number): Promise<StoreLease | undefined> {
    this.#open();
    const [k, o, ms] = [check.key(key), check.owner(owner), check.leaseMs(leaseMs)];
    const row = this.#rows.get(k);
    const now = Date.now();
    if (row === undefined || row.expiresAt > now) return undefined;
    Object.assign(row, { owner: o, epoch: row.epoch + 1, expiresAt: now + ms });
    return { key: k, owner: o, epoch: row.epoch, expiresAt: row.expiresAt };
  }

  async renew(owner: string, leases: readonly { key: string; epoch: number }[], leaseMs: number): Promise<string[]> {
    this.#open();
    const [o, held, ms] = [check.owner(owner), check.leases(leases), check.leaseMs(leaseMs)];
    const lost: string[] = [];
    for (const { key, epoch } of held) {
      const row = this.#rows.get(key);
      if (row === undefined || row.epoch !== epoch || row.owner !== o) lost.push(key);
      else row.expiresAt = Date.now() + ms;
    }
    return lost;
  }

  async append(key: string, epoch: number, records: readonly string[], summary?: SessionSummary): Promise<void> {
    this.#fenced(key, epoch, check.records(records), summary, false);
  }

  async rewrite(key: string, epoch: number, records: readonly string[], summary?: SessionSummary): Promise<void> {
    this.#fenced(key, epoch, check.records(records), summary, true);
  }

  async records(key: string): Promise<string[] | undefined> {
    this.#open();
    const row = this.#rows.get(check.key(key));
    return row === undefined ? undefined : [...row.records];
  }

  async sessions(): Promise<StoredSessionInfo[]> {
    this.#open();
    return [...this.#rows].map(([key, row]) => ({
      key,
      owner: row.owner,
      leaseExpiresAt: row.expiresAt,
      ...row.summary,
      metadata: row.metadata === null ? null : (JSON.parse(row.metadata) as JsonValue),
    }));
  }

  async remove(key: string, epoch: number): Promise<void> {
    this.#row(key, epoch);
    this.#rows.delete(key);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #fenced(
    key: string,
    epoch: number,
    records: readonly string[],
    summary: SessionSummary | undefined,
    replace: boolean,
  ): void {
    const row = this.#row(key, epoch);
    const checked = check.summary(summary);
    if (replace) row.records = [...records];
    else row.records.push(...records);
    if (checked !== undefined) row.summary = checked;
  }

  /** The session's row, if `epoch` is still its own. */
  #row(key: string, epoch: number): Row {
    this.#open();
    const [k, e] = [check.key(key), check.epoch(epoch)];
    const row = this.#rows.get(k);
    if (row === undefined || row.epoch !== e) throw sessionMoved(k, e, row?.epoch);
    return row;
  }

  #open(): void {
    if (this.#closed) throw storeClosed(this.name);
  }
}

/** A store in this process's memory (SPEC §16): sessions outlive their runtime, not the process. */
export function memoryStore(): CodeCellStore {
  return new MemoryStore();
}
