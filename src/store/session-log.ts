// A session's writer to its store (SPEC §16): under its lease (session-lease.ts), its records
// appended in the order they were written — those written in one turn in one append, so concurrent
// calls share a commit. Each write resolves once its records are durable; a write the store refuses
// because another process adopted the session (ERR_SESSION_MOVED), or cannot make, ends the session
// (`lost`): no record after it is written, and nothing waiting on one goes ahead.
import { CodeCellError, isCodeCellError, messageOf } from '../errors.js';
import type { Logger } from '../types.js';
import { SessionLease, sessionGone } from './session-lease.js';
import type { CodeCellStore, SessionSummary, StoreLease } from './store.js';

export { PROCESS_OWNER } from './session-lease.js';

/**
 * The log is compacted once it holds twice what its last compaction kept, and at least this many
 * records: ended cells' records go, a cell that cannot run again keeps what its loss report needs
 * (log-compaction.ts) — a log's size stays within a small multiple of what it must keep.
 */
const COMPACT_AT_LEAST = 1_024;
/** How long records written `later` wait for a write to go with, at most. */
const LATER_MS = 2;
/** How long an append the store failed (not refused) is tried again, at least: a restart of its server. */
const RETRY_MS = 30_000;

/** What a log needs of its session. */
export interface LogPort {
  /** The records a compaction keeps of `records` (each a JSON text), or undefined to keep them all. */
  compact(records: readonly string[]): string[] | undefined;
  /** How many cells are open and paused (what `store.sessions()` lists). */
  summary(): SessionSummary;
  /** The log can write no more (`error`: why): the session ends. */
  lost(error: Error): void;
  /** The id the session's next cell would get (its key keeps it when the session ends). */
  nextCellId(): number;
  /** Where what the store failed to do (a renewal) is said. */
  readonly logger: Logger;
}

interface Batch {
  records: string[];
  done: PromiseWithResolvers<void>;
  /** Until it is sent after the write under way: when it goes anyway (records written `later` only). */
  timer: NodeJS.Timeout | undefined;
}

export class SessionLog {
  readonly store: CodeCellStore;
  readonly key: string;
  readonly leaseMs: number;
  readonly #port: LogPort;
  readonly #lease: SessionLease;
  /** The records not yet handed to the store, and what their writers wait on. */
  #next: Batch | undefined;
  /** The write under way (batches go one at a time, in order). */
  #writing: Promise<void> = Promise.resolve();
  /** Resolves once the last record written so far is durable (batches settle in order). */
  #last: Promise<void> = Promise.resolve();
  /** Why the log can write no more. */
  #failed: Error | undefined;
  #ended = false;
  /** What the last compaction kept (or the log held when this process took it). */
  #kept: number;
  #compacting = false;
  /** How many records the log holds (what an append whose answer was lost is checked against). */
  #held: number;

  /**
   * `from.lease`: the session's lease, being created (its request sent at `from.sentAt`,
   * performance.now()) or adopted, its log holding `from.held` records.
   */
  constructor(
    store: CodeCellStore,
    key: string,
    leaseMs: number,
    from: { lease: Promise<StoreLease>; held: number; sentAt?: number },
    port: LogPort,
  ) {
    this.store = store;
    this.key = key;
    this.leaseMs = leaseMs;
    this.#port = port;
    this.#lease = new SessionLease(store, key, leaseMs, from.lease, from.sentAt, {
      lost: (error) => this.#fail(error),
      logger: port.logger,
    });
    this.#held = this.#kept = from.held;
    // Its writes wait for it; its failure is the log's.
    this.#writing = from.lease.then(
      () => {},
      (error: unknown) => this.#fail(error),
    );
  }

  /** Why the log can write no more (undefined while it can). */
  get failure(): Error | undefined {
    return this.#failed;
  }

  /** Whether it still takes records (not ended, let go or failed). */
  get open(): boolean {
    return !this.#ended && this.#failed === undefined;
  }

  /** The lease's epoch once held (a failed creation rejects). */
  async epoch(): Promise<number> {
    return (await this.#lease.lease).epoch;
  }

  /** The lease as it was created or adopted (a failed creation rejects, naming the store). */
  lease(): Promise<StoreLease> {
    return this.#lease.lease.catch((error: unknown) => {
      throw this.#failure(error);
    });
  }

  /** The lease's epoch, once held (undefined before). */
  get heldEpoch(): number | undefined {
    return this.#lease.epoch;
  }

  /**
   * Undefined while this process holds the session's lease by its own clock; else resolves once
   * it renewed it (rejects, and the session ends, when another process holds it): a call is made
   * only then.
   */
  current(): Promise<void> | undefined {
    if (this.#failed !== undefined) return refused(this.#failed);
    return this.#lease.current();
  }

  /** Appends `records` after those written before; resolves once they are durable. */
  write(...records: string[]): Promise<void> {
    return this.#add(records, true);
  }

  /**
   * As write, but the records go with the next write, or within LATER_MS: for records nothing
   * else waits on (a session event, handed out once durable), one commit fewer per tool call.
   */
  later(...records: string[]): Promise<void> {
    return this.#add(records, false);
  }

  /**
   * Resolves once every record written so far is durable (`now`: records waiting to go `later`
   * go now); rejects when they cannot be (the log failed).
   */
  written(now = true): Promise<void> {
    if (this.#failed !== undefined) return refused(this.#failed);
    const waiting = this.#next;
    if (now && waiting?.timer !== undefined) this.#send(waiting);
    return this.#last;
  }

  #add(records: readonly string[], now: boolean): Promise<void> {
    if (this.#failed !== undefined) return refused(this.#failed);
    if (this.#ended) return refused(new Error(`session ${this.key} ended: its log takes no more records`));
    let batch = this.#next;
    if (batch === undefined) {
      batch = this.#next = { records: [], done: Promise.withResolvers<void>(), timer: undefined };
      // Nobody need wait on it: a failure is the log's (`lost`), and every later write's.
      batch.done.promise.catch(() => {});
      this.#last = batch.done.promise;
      if (now) this.#send(batch);
      else batch.timer = setTimeout(() => this.#send(batch as Batch), LATER_MS);
    } else if (now && batch.timer !== undefined) this.#send(batch);
    for (const record of records) batch.records.push(record);
    return batch.done.promise;
  }

  /** The batch goes after the write under way, with everything written meanwhile. */
  #send(batch: Batch): void {
    clearTimeout(batch.timer);
    batch.timer = undefined;
    this.#writing = this.#writing.then(() => this.#flush(batch));
  }

  /**
   * The session ended: its records are removed (`remove`), or left for a recovery — its lease
   * released, so the next process adopts it at once.
   */
  async end(remove: boolean): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#next?.timer !== undefined) this.#send(this.#next);
    await this.#writing;
    if (this.#failed !== undefined) return this.#lease.end();
    if (!remove) return this.#lease.release();
    try {
      await this.store.remove(this.key, await this.epoch(), this.#port.nextCellId());
      this.#lease.end(true);
    } catch {
      // Moved meanwhile, or the store is gone: what is left there is another process's to recover.
      this.#lease.end();
    }
  }

  async #flush(batch: Batch): Promise<void> {
    if (this.#next === batch) this.#next = undefined;
    if (this.#failed !== undefined) return batch.done.reject(this.#failed);
    try {
      const { epoch } = await this.#lease.lease;
      await this.#append(epoch, batch.records);
      this.#held += batch.records.length;
      // Twice what the last compaction kept: compacted after this batch, before the next.
      if (!this.#compacting && this.#held >= Math.max(COMPACT_AT_LEAST, 2 * this.#kept)) {
        this.#compacting = true;
        this.#writing = this.#writing.then(() => this.#compact());
      }
      batch.done.resolve();
    } catch (error) {
      this.#fail(error);
      batch.done.reject(this.#failed);
    }
  }

  /**
   * Appends `records`. An append the store failed (its server restarted, a connection dropped) —
   * not one it refused — is tried again, for as long as RETRY_MS or three leases, unless it
   * landed before its answer was lost: the log then holds it at its end, and it is not written twice.
   */
  async #append(epoch: number, records: readonly string[]): Promise<void> {
    const until = Date.now() + Math.max(RETRY_MS, 3 * this.leaseMs);
    let pause = 50;
    for (;;) {
      try {
        return await this.store.append(this.key, epoch, records, this.#port.summary());
      } catch (error) {
        // Refused (moved, closed, a bad argument): as final as it says. Failed: tried again.
        if (isCodeCellError(error) || Date.now() + pause > until) throw error;
      }
      // Whether it landed before its answer was lost: asked until the store answers.
      let now: string[] | undefined | null = null;
      while (now === null) {
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(2 * pause, 1_000);
        now = await this.store.records(this.key).catch((error: unknown) => {
          if (isCodeCellError(error) || Date.now() > until) throw error;
          return null;
        });
      }
      const held = this.#held;
      if (now === undefined) throw sessionGone(this.key, epoch);
      if (now.length === held + records.length && records.every((record, i) => now[held + i] === record)) return;
      if (now.length !== held)
        throw new Error(`session ${this.key}'s log holds ${now.length} records, not the ${held} it wrote`);
    }
  }

  async #compact(): Promise<void> {
    if (this.#failed !== undefined) return;
    try {
      const { epoch } = await this.#lease.lease;
      const records = (await this.store.records(this.key)) ?? [];
      const kept = this.#port.compact(records);
      if (kept === undefined) this.#kept = this.#held;
      else {
        await this.store.rewrite(this.key, epoch, kept, this.#port.summary());
        this.#held = this.#kept = kept.length;
      }
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#compacting = false;
    }
  }

  /**
   * Renews the lease now: undefined while this process holds it; once it does not (another
   * process adopted the session), the log fails — the session ends — and this is why. Rejects
   * when the store cannot say.
   */
  async confirm(): Promise<Error | undefined> {
    if (this.#failed !== undefined) return this.#failed;
    return this.#lease.confirm();
  }

  /** The store's own failure as it is, naming the store (never as a move to another owner). */
  #failure(error: unknown): CodeCellError {
    return isCodeCellError(error)
      ? error
      : new CodeCellError('ERR_STORE_FAILED', `the ${this.store.name} store failed: ${messageOf(error)}`, {
          cause: error,
        });
  }

  #fail(error: unknown): void {
    if (this.#failed !== undefined) return;
    this.#failed = this.#failure(error);
    this.#lease.end();
    this.#port.lost(this.#failed);
  }
}

/** A write refused: rejected, and no unhandled rejection if its writer does not wait on it. */
function refused(error: Error): Promise<void> {
  const rejected = Promise.reject(error);
  rejected.catch(() => {});
  return rejected;
}
