// A session's lease on its store (SPEC §16): held by this process, renewed with every other lease
// it holds in that store in one call a period (LeaseKeeper; SQLite and PostgreSQL write one row for
// them all), judged current by this process's own monotonic clock before a call is made (a process
// paused past its lease never makes one), released when the session is left to a recovery or ends
// here without removing its records (the next process adopts it at once). What this process holds
// is known here: a recovery never adopts a session this process still drives.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { CodeCellError, isCodeCellError, messageOf } from '../errors.js';
import type { Logger } from '../types.js';
import type { CodeCellStore, StoreLease } from './store.js';

/** This process as a lease's owner (what `store.sessions()` lists). */
export const PROCESS_OWNER = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;

/** How long a call waits for the store to confirm a lease it cannot reach, at least (a restart of its server). */
const CONFIRM_RETRY_MS = 30_000;

/** What a lease tells its session. */
export interface LeasePort {
  /** This process holds the session no more (`error`: why): the session ends. */
  lost(error: Error): void;
  readonly logger: Logger;
}

/** The leases this process holds in each store (a store object is one store). */
const keepers = new WeakMap<CodeCellStore, LeaseKeeper>();

function keeperOf(store: CodeCellStore): LeaseKeeper {
  let keeper = keepers.get(store);
  if (keeper === undefined) keepers.set(store, (keeper = new LeaseKeeper(store)));
  return keeper;
}

/** Whether this process holds the session `key` of `store` (a recovery leaves it to its driver here). */
export function heldHere(store: CodeCellStore, key: string): boolean {
  return keepers.get(store)?.holds(key) === true;
}

export class SessionLease {
  readonly store: CodeCellStore;
  readonly key: string;
  readonly leaseMs: number;
  readonly #port: LeasePort;
  readonly #lease: Promise<StoreLease>;
  #held: StoreLease | undefined;
  /** Until when (performance.now()) this process holds it for sure: a renewal's sending plus a lease. */
  #validUntil = 0;
  /** Renewals in a row the store failed. */
  #failures = 0;
  #over = false;

  /**
   * `lease`: being created or adopted; `sentAt`: when its request was sent (performance.now()),
   * if the lease counts from then (a creation: undefined for an adoption, confirmed on first use).
   */
  constructor(
    store: CodeCellStore,
    key: string,
    leaseMs: number,
    lease: Promise<StoreLease>,
    sentAt: number | undefined,
    port: LeasePort,
  ) {
    this.store = store;
    this.key = key;
    this.leaseMs = leaseMs;
    this.#port = port;
    this.#lease = lease;
    keeperOf(store).add(this);
    lease.then(
      (held) => {
        this.#held = held;
        if (sentAt !== undefined) this.#validUntil = sentAt + leaseMs;
      },
      () => this.#end(),
    );
  }

  /** The lease as held (rejects when it could not be created or adopted). */
  get lease(): Promise<StoreLease> {
    return this.#lease;
  }

  /** Its fencing epoch once held (undefined before). */
  get epoch(): number | undefined {
    return this.#held?.epoch;
  }

  /** Who holds it (undefined until held). */
  get owner(): string | undefined {
    return this.#held?.owner;
  }

  /**
   * Undefined when this process holds the lease by its own clock; else a promise that renews it
   * first — resolving once held, rejecting (and the session ends) once another process adopted
   * it. A store that cannot be reached is asked again for CONFIRM_RETRY_MS or three leases.
   */
  current(): Promise<void> | undefined {
    if (performance.now() < this.#validUntil) return undefined;
    return this.#confirmed(performance.now() + Math.max(CONFIRM_RETRY_MS, 3 * this.leaseMs));
  }

  async #confirmed(until: number): Promise<void> {
    for (let pause = 50; ; pause = Math.min(2 * pause, 1_000)) {
      try {
        const lost = await this.confirm();
        if (lost !== undefined) throw lost;
        if (performance.now() < this.#validUntil) return;
      } catch (error) {
        if (isCodeCellError(error) || performance.now() + pause > until) throw this.#lose(error);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /**
   * Renews the lease now: undefined while this process holds it; once it does not (another
   * process adopted the session), the session ends and this is why. Rejects when the store
   * cannot say.
   */
  async confirm(): Promise<Error | undefined> {
    const { owner, epoch } = await this.#lease;
    if (this.#over) return sessionGone(this.key, epoch);
    const sentAt = performance.now();
    let lost: string[];
    try {
      lost = await this.store.renew(owner, [{ key: this.key, epoch }], this.leaseMs);
    } catch (error) {
      if (isCodeCellError(error) && error.code === 'ERR_SESSION_MOVED') return this.#lose(error);
      throw error;
    }
    if (lost.length > 0) return this.#lose(sessionGone(this.key, epoch));
    this.renewed(sentAt);
    return undefined;
  }

  /** A renewal sent at `sentAt` held (LeaseKeeper's, or confirm's). */
  renewed(sentAt: number): void {
    this.#validUntil = Math.max(this.#validUntil, sentAt + this.leaseMs);
    this.#failures = 0;
  }

  /** A renewal the store failed: said on the session's logger (two more chances before the lease runs out). */
  renewalFailed(error: unknown): void {
    this.#failures++;
    storeErrors.renewals++;
    this.#port.logger.warn(
      `codecell: renewing the lease of session ${this.key} failed (${this.#failures} in a row) in ${this.store.name}: ${messageOf(error)}`,
    );
  }

  /** Another process holds the session now (or the store no longer has it): it ends here. */
  #lose(error: unknown): Error {
    const why = error instanceof Error ? error : new Error(messageOf(error));
    if (!this.#over) {
      this.#end();
      this.#port.lost(why);
    }
    return why;
  }

  /** Lost by the keeper's renewal. */
  lostTo(epoch: number): void {
    this.#lose(sessionGone(this.key, epoch));
  }

  /**
   * The session is left to a recovery (its process goes, or no host took it): the lease is given
   * up, so the next process adopts it at once instead of waiting for it to run out.
   */
  async release(): Promise<void> {
    if (this.#over) return;
    this.#end();
    const held = this.#held;
    if (held !== undefined) await keeperOf(this.store).release(held.owner, this.key, held.epoch);
  }

  /**
   * The session ended here: the lease is no longer kept or renewed. Unless its row is `gone` (its
   * records removed), it is released in the background: a store renews one lease per owner, which
   * this process's other sessions keep alive, so a lease merely left alone would not run out.
   */
  end(gone = false): void {
    if (this.#over) return;
    this.#end();
    const held = this.#held;
    if (!gone && held !== undefined) void keeperOf(this.store).release(held.owner, this.key, held.epoch);
  }

  #end(): void {
    if (this.#over) return;
    this.#over = true;
    keepers.get(this.store)?.delete(this);
  }
}

/** What stores did that a session could not (a process-wide count, for metrics). */
export const storeErrors = { renewals: 0 };

/**
 * The leases this process holds in one store, renewed together: one renewal a third of a lease,
 * one statement for all the leases of that length (SPEC §16: an agent holding many sessions).
 */
class LeaseKeeper {
  readonly #store: CodeCellStore;
  /** By lease length: the leases, and the timer of their next renewal. */
  readonly #groups = new Map<number, { leases: Set<SessionLease>; timer: NodeJS.Timeout | undefined }>();
  /** Leases given up here whose release the store has not taken yet (by owner), and the timer of the next try. */
  readonly #releasing = new Map<string, { key: string; epoch: number }[]>();
  #retry: NodeJS.Timeout | undefined;

  constructor(store: CodeCellStore) {
    this.#store = store;
  }

  holds(key: string): boolean {
    for (const { leases } of this.#groups.values()) for (const lease of leases) if (lease.key === key) return true;
    return false;
  }

  add(lease: SessionLease): void {
    let group = this.#groups.get(lease.leaseMs);
    if (group === undefined) this.#groups.set(lease.leaseMs, (group = { leases: new Set(), timer: undefined }));
    group.leases.add(lease);
    this.#schedule(lease.leaseMs);
  }

  delete(lease: SessionLease): void {
    const group = this.#groups.get(lease.leaseMs);
    if (group === undefined) return;
    group.leases.delete(lease);
    if (group.leases.size > 0) return;
    clearTimeout(group.timer);
    this.#groups.delete(lease.leaseMs);
  }

  /**
   * Releases a lease given up here (a lease of 1 ms from now is one that ran out: what the store's
   * contract offers). A store that fails is asked again each second, with any released meanwhile,
   * until it takes them (or this process ends, and its leases with it).
   */
  async release(owner: string, key: string, epoch: number): Promise<void> {
    try {
      await this.#store.renew(owner, [{ key, epoch }], 1);
    } catch {
      let waiting = this.#releasing.get(owner);
      if (waiting === undefined) this.#releasing.set(owner, (waiting = []));
      waiting.push({ key, epoch });
      this.#retry ??= setTimeout(() => void this.#releaseAgain(), 1_000).unref();
    }
  }

  async #releaseAgain(): Promise<void> {
    for (const [owner, waiting] of this.#releasing)
      try {
        await this.#store.renew(owner, waiting, 1);
        this.#releasing.delete(owner);
      } catch {
        // Still failing: tried again in a second.
      }
    this.#retry = this.#releasing.size === 0 ? undefined : setTimeout(() => void this.#releaseAgain(), 1_000).unref();
  }

  #schedule(leaseMs: number): void {
    const group = this.#groups.get(leaseMs);
    if (group === undefined || group.timer !== undefined) return;
    group.timer = setTimeout(() => void this.#renew(leaseMs), Math.max(1, Math.floor(leaseMs / 3)));
    group.timer.unref();
  }

  /** One statement renews `held` (its leases lost to another process are told so). */
  async #renewAll(owner: string, held: { lease: SessionLease; epoch: number }[], leaseMs: number): Promise<void> {
    const sentAt = performance.now();
    try {
      const leases = held.map(({ lease, epoch }) => ({ key: lease.key, epoch }));
      const lost = new Set(await this.#store.renew(owner, leases, leaseMs));
      for (const { lease, epoch } of held)
        if (lost.has(lease.key)) lease.lostTo(epoch);
        else lease.renewed(sentAt);
    } catch (error) {
      for (const { lease } of held) lease.renewalFailed(error);
    }
  }

  async #renew(leaseMs: number): Promise<void> {
    const group = this.#groups.get(leaseMs);
    if (group === undefined) return;
    group.timer = undefined;
    // Held leases by owner (this process's own, unless a store was given another), one renewal each.
    const byOwner = new Map<string, { lease: SessionLease; epoch: number }[]>();
    for (const lease of group.leases) {
      const { owner, epoch } = lease;
      if (owner === undefined || epoch === undefined) continue;
      let held = byOwner.get(owner);
      if (held === undefined) byOwner.set(owner, (held = []));
      held.push({ lease, epoch });
    }
    await Promise.all([...byOwner].map(([owner, held]) => this.#renewAll(owner, held, leaseMs)));
    this.#schedule(leaseMs);
  }
}

/** The lease was lost: another process adopted the session, or it is no longer in the store. */
export const sessionGone = (key: string, epoch: number): CodeCellError =>
  new CodeCellError('ERR_SESSION_MOVED', `session ${key} moved: its lease (epoch ${epoch}) was taken over or ended`);
