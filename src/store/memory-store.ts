// memoryStore (SPEC §16): the store interface in this process's memory. Sessions in it outlive
// their SessionRuntime or HostClient, not the process: what it is for is a recovery within one
// process, and tests of what a store sees.
import { checkedStore, type StoreBackend, type StoredSessionRow } from './checked-store.js';
import { sessionMoved, type CodeCellStore, type SessionSummary, type StoreLease } from './store.js';

interface Row {
  owner: string;
  epoch: number;
  expiresAt: number;
  summary: SessionSummary;
  metadata: string | null;
  records: string[];
}

class MemoryBackend implements StoreBackend {
  readonly name = 'memory';
  readonly #rows = new Map<string, Row>();
  /** Keys whose session ended: its last epoch and the id its next session's first cell gets. */
  readonly #retired = new Map<string, { epoch: number; nextCellId: number }>();

  create(key: string, owner: string, leaseMs: number, metadata: string | null): StoreLease | undefined {
    if (this.#rows.has(key)) return undefined;
    const expiresAt = Date.now() + leaseMs;
    const retired = this.#retired.get(key);
    const epoch = (retired?.epoch ?? 0) + 1;
    this.#rows.set(key, {
      owner,
      epoch,
      expiresAt,
      summary: { openCells: 0, pausedCells: 0 },
      metadata,
      records: [],
    });
    const lease = { key, owner, epoch, expiresAt };
    return retired === undefined ? lease : { ...lease, nextCellId: retired.nextCellId };
  }

  now(): number {
    return Date.now();
  }

  adopt(key: string, owner: string, leaseMs: number): StoreLease | undefined {
    const row = this.#rows.get(key);
    const now = Date.now();
    if (row === undefined || row.expiresAt > now) return undefined;
    Object.assign(row, { owner, epoch: row.epoch + 1, expiresAt: now + leaseMs });
    const lease = { key, owner, epoch: row.epoch, expiresAt: row.expiresAt };
    const retired = this.#retired.get(key);
    return retired === undefined ? lease : { ...lease, nextCellId: retired.nextCellId };
  }

  renew(owner: string, leases: readonly { key: string; epoch: number }[], leaseMs: number): string[] {
    const lost: string[] = [];
    for (const { key, epoch } of leases) {
      const row = this.#rows.get(key);
      if (row === undefined || row.epoch !== epoch || row.owner !== owner) lost.push(key);
      else row.expiresAt = Date.now() + leaseMs;
    }
    return lost;
  }

  write(
    key: string,
    epoch: number,
    records: readonly string[],
    summary: SessionSummary | undefined,
    replace: boolean,
  ): void {
    const row = this.#row(key, epoch);
    if (replace) row.records = [...records];
    else row.records.push(...records);
    if (summary !== undefined) row.summary = summary;
  }

  records(key: string): string[] | undefined {
    const row = this.#rows.get(key);
    return row === undefined ? undefined : [...row.records];
  }

  sessions(): StoredSessionRow[] {
    return [...this.#rows].map(([key, row]) => ({
      key,
      owner: row.owner,
      leaseExpiresAt: row.expiresAt,
      ...row.summary,
      metadata: row.metadata,
    }));
  }

  remove(key: string, epoch: number, nextCellId: number): void {
    this.#row(key, epoch);
    this.#rows.delete(key);
    // Ids never go back: its key's earlier lifetime may have ended after more cells than this one had.
    const before = this.#retired.get(key)?.nextCellId ?? 1;
    this.#retired.set(key, { epoch, nextCellId: Math.max(before, nextCellId) });
  }

  close(): void {}

  /** The session's row, if `epoch` is still its own. */
  #row(key: string, epoch: number): Row {
    const row = this.#rows.get(key);
    if (row === undefined || row.epoch !== epoch) throw sessionMoved(key, epoch, row?.epoch);
    return row;
  }
}

/** A store in this process's memory (SPEC §16): sessions outlive their runtime, not the process. */
export function memoryStore(): CodeCellStore {
  return checkedStore(new MemoryBackend());
}
