// A HostClient's sessions kept in a store (SPEC §16): each session's ledger writes what it learns
// there (session-ledger.ts), under a lease this client holds and renews; `recover` adopts the
// sessions whose owner is gone and creates them again on a host, their open cells running on from
// their journals — a recovery is a move to a new host whose ledger came from the store.
import {
  CodeCellError,
  type JsonValue,
  type Logger,
  type SessionRuntimeDelegate,
  type SessionStreamEvent,
} from '../../src/index.js';
import {
  type AnswerGate,
  checkRecoverArgs,
  compactLog,
  cursorAfter,
  consoleLogger,
  DEFAULT_LEASE_MS,
  recoverEach,
  PROCESS_OWNER,
  SessionLog,
  type CodeCellStore,
  type DelegateFor,
  type ReadLog,
  type SessionCursorOptions,
  type SessionLedger,
  type StoreLease,
} from '../../src/internal.js';
import type { RemoteSessionOptions } from './session-create.js';

/** Makes a recovered session live on a host (HostClient's). */
type Place<S> = (
  delegate: SessionRuntimeDelegate,
  options: RemoteSessionOptions & { key: string },
  kept: KeptLog,
) => Promise<S>;

/** A session's place in the store: its log, and (a recovered one) what was read from it. */
export interface KeptLog {
  log: SessionLog;
  /** The fencing epoch of this client's lease (each host it is created on is told). */
  epoch: number;
  read?: ReadLog;
  /** The session lives: its log compacts by its ledger, and its loss ends the session. */
  attach(port: KeptPort): void;
}

/**
 * The session stream's numbering (SPEC §16): each event written to the store, and handed out
 * through the session's gate once durable, going on from what a recovered log told.
 */
export function cursorOf(kept: KeptLog, gate: AnswerGate): SessionCursorOptions {
  const { read, log } = kept;
  const write = (event: SessionStreamEvent): Promise<void> => {
    void log.later(JSON.stringify({ t: 'event', event }));
    return gate.after(true);
  };
  return cursorAfter(read, write, () => log.confirm());
}

/** What a kept session's log needs of the session, once it lives (SessionCore gives it). */
export interface KeptPort {
  ledger: SessionLedger;
  /** The store can keep the session no more (another process adopted it): it ends. */
  lost(error: Error): void;
}

/** The store options of HostClient.spawn and connect, checked: undefined without a store. */
export function keptSessions(options: {
  store?: CodeCellStore;
  leaseMs?: number;
  rehome?: boolean;
  logger?: Logger;
}): KeptSessions | undefined {
  const { store, leaseMs, rehome } = options;
  if (store === undefined) {
    if (leaseMs !== undefined) throw new CodeCellError('ERR_INVALID_REQUEST', 'leaseMs goes with store');
    return undefined;
  }
  if (typeof store !== 'object' || store === null || typeof store.append !== 'function')
    throw new CodeCellError('ERR_INVALID_REQUEST', 'store must be a store (memoryStore(), sqliteStore(…), …)');
  if (rehome === false)
    throw new CodeCellError('ERR_INVALID_REQUEST', 'a store keeps what re-homing keeps: it needs rehome (not false)');
  if (leaseMs !== undefined && (!Number.isSafeInteger(leaseMs) || leaseMs < 100 || leaseMs > 86_400_000))
    throw new CodeCellError('ERR_INVALID_REQUEST', 'leaseMs must be an integer from 100 to 86400000');
  return new KeptSessions(store, leaseMs ?? DEFAULT_LEASE_MS, options.logger ?? consoleLogger);
}

/** A place for each session (its log), and what the log does once the session lives. */
export class KeptSessions {
  readonly store: CodeCellStore;
  readonly leaseMs: number;
  readonly logger: Logger;
  /** The logs of the sessions this client made or adopted (those ended are pruned now and then). */
  readonly #logs = new Set<SessionLog>();
  #pruneAt = 64;

  constructor(store: CodeCellStore, leaseMs: number, logger: Logger) {
    this.store = store;
    this.leaseMs = leaseMs;
    this.logger = logger;
  }

  /**
   * The client closes: each session's log takes no more records and lets its lease go, before its
   * host shuts it down — what the host then ends (its running cells) is not written, so a
   * recovery in the next process runs them on (a deploy loses no more than a crash).
   */
  async leaveAll(): Promise<void> {
    await Promise.all([...this.#logs].map((log) => log.end(false)));
    this.#logs.clear();
  }

  /**
   * A new session's place in the store (rejects when its key is taken); `nextCellId` when its key
   * had a session before (its ids go on after that one's).
   */
  async create(key: string, metadata: JsonValue | undefined): Promise<KeptLog & { nextCellId?: number }> {
    const sentAt = performance.now();
    const kept = this.#kept(key, {
      lease: this.store.create(key, PROCESS_OWNER, this.leaseMs, metadata ?? null),
      held: 0,
      sentAt,
    });
    const { epoch, nextCellId } = await kept.log.lease();
    return nextCellId === undefined ? { ...kept, epoch } : { ...kept, epoch, nextCellId };
  }

  /**
   * Adopts the store's sessions whose lease ran out (those `delegateFor` takes, of `keys`), and
   * makes each live with `place`: on a host, its open cells running again there.
   */
  async recover<S>(
    delegateFor: DelegateFor,
    { keys, waitMs }: { keys?: readonly string[] | undefined; waitMs?: number | undefined },
    place: Place<S>,
  ): Promise<S[]> {
    checkRecoverArgs(delegateFor, keys, waitMs);
    const options = { keys, waitMs, leaseMs: this.leaseMs, logger: this.logger };
    return recoverEach(this.store, delegateFor, options, async ({ read, lease, delegate }) => {
      const from = { lease: Promise.resolve(lease), held: read.records };
      const kept = { ...this.#kept(lease.key, from), epoch: lease.epoch, read };
      const { key: _, ...given } = read.options as RemoteSessionOptions;
      try {
        return await place(delegate, { ...given, key: lease.key, restore: read.ledger.restore() }, kept);
      } catch (error) {
        // No host took it: its lease is released for a later recovery.
        await kept.log.end(false);
        throw error;
      }
    });
  }

  /** The session's log: its records compacted by what its ledger keeps open; lost, it ends the session. */
  #kept(key: string, from: { lease: Promise<StoreLease>; held: number; sentAt?: number }): Omit<KeptLog, 'epoch'> {
    let port: KeptPort | undefined;
    const log = new SessionLog(this.store, key, this.leaseMs, from, {
      compact: (records) => (port === undefined ? undefined : compactLog(records, new Set(port.ledger.cellIds))),
      summary: () => ({ openCells: port?.ledger.cellIds.length ?? 0, pausedCells: port?.ledger.pausedCount ?? 0 }),
      nextCellId: () => port?.ledger.restore().nextCellId ?? 1,
      lost: (error) => port?.lost(error),
      logger: this.logger,
    });
    this.#logs.add(log);
    if (this.#logs.size >= this.#pruneAt) {
      for (const each of this.#logs) if (!each.open) this.#logs.delete(each);
      this.#pruneAt = Math.max(64, 2 * this.#logs.size);
    }
    const attach = (given: KeptPort): void => {
      port = given;
      // Lost before the session lived (its lease taken meanwhile): it ends now.
      if (log.failure !== undefined) given.lost(log.failure);
    };
    return { log, attach };
  }
}
