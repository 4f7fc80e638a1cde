// Adopting a store's sessions whose owner is gone (SPEC §16), one way for both kinds of session
// (SessionRuntime.recover, HostClient#recover): each session whose lease ran out by the store's
// clock — and that this process does not drive itself — is read, offered to `delegateFor`,
// adopted under the next epoch, read again (its former owner can write nothing after that), and
// made live by the caller's `place`. A session whose records this codecell cannot read is skipped
// and reported, never stopping the rest; a store that fails hands out those already recovered.
import { CodeCellError, isCodeCellError, messageOf } from '../errors.js';
import { readLog, type ReadLog } from '../ledger/log-records.js';
import { BrokeBound } from '../ledger/ledger-parts.js';
import { heldHere, PROCESS_OWNER } from '../store/session-lease.js';
import type { CodeCellStore, StoredSessionInfo, StoreLease } from '../store/store.js';
import type { JsonValue, Logger, SessionRuntimeDelegate, ToolDefinition } from '../types.js';
import { checkDelegate } from '../validate.js';

/** What a recovery's `delegateFor` is told of a session it may adopt. */
export interface RecoveryInfo {
  key: string;
  /** The session's own tools. */
  tools: ToolDefinition[];
  /** What it was created with as `metadata` (null without). */
  metadata: JsonValue | null;
}

export type DelegateFor = (
  info: RecoveryInfo,
) => SessionRuntimeDelegate | undefined | Promise<SessionRuntimeDelegate | undefined>;

/** A session this process adopted: its log as read under its new lease, and its delegate. */
export interface Adoption {
  read: ReadLog;
  lease: StoreLease;
  delegate: SessionRuntimeDelegate;
}

/** What a recovery takes besides the store. */
export interface AdoptionOptions {
  keys: readonly string[] | undefined;
  leaseMs: number;
  logger: Logger;
  /** How long to wait for leases that end meanwhile (0: adopt only those ended now). */
  waitMs?: number | undefined;
}

/** A session's records or row this codecell cannot take: it is skipped and reported (its key, why). */
export class Unreadable extends Error {}

/** Checks recover's own arguments (ERR_INVALID_REQUEST saying which is wrong). */
export function checkRecoverArgs(delegateFor: unknown, keys: unknown, waitMs?: unknown): void {
  if (typeof delegateFor !== 'function')
    throw new CodeCellError('ERR_INVALID_REQUEST', 'delegateFor must be a function (info) => delegate | undefined');
  if (keys !== undefined && (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string')))
    throw new CodeCellError('ERR_INVALID_REQUEST', 'options.keys must be an array of session keys');
  if (
    waitMs !== undefined &&
    (!Number.isSafeInteger(waitMs) || (waitMs as number) < 0 || (waitMs as number) > 86_400_000)
  )
    throw new CodeCellError('ERR_INVALID_REQUEST', 'options.waitMs must be an integer from 0 to 86400000');
}

/**
 * Adopts each of the store's sessions whose lease ran out (of `keys`, when given) that
 * `delegateFor` takes, and makes it live with `place`. With `waitMs`, leases that end within it are
 * waited for and adopted as they end (a process restarted quickly finds its predecessor's sessions
 * still leased); a lease renewed meanwhile has a live owner, and is not waited for further. When
 * the store fails (a restart, a dropped connection), those recovered already live here, under
 * leases this process holds: they are handed out, never left undriven, and the rest wait for a
 * later recovery.
 */
export async function recoverEach<S>(
  store: CodeCellStore,
  delegateFor: DelegateFor,
  options: AdoptionOptions,
  place: (adoption: Adoption) => Promise<S>,
): Promise<S[]> {
  const { keys, logger } = options;
  const recovered: S[] = [];
  const until = performance.now() + (options.waitMs ?? 0);
  /** Keys looked at (adopted, left, refused): not again. */
  const done = new Set<string>();
  /** Leases waited for, by the expiry seen: one that moves later was renewed (its owner lives). */
  const waited = new Map<string, number>();
  for (;;) {
    const sessions = await store.sessions();
    // Leases run out by the store's clock (the agents' need not agree); the store decides at adopt.
    const now = (await store.now?.()) ?? Date.now();
    const left = until - performance.now();
    let nextEnd = Infinity;
    for (const info of sessions) {
      const { key, leaseExpiresAt } = info;
      if (done.has(key) || (keys !== undefined && !keys.includes(key)) || heldHere(store, key)) continue;
      if (leaseExpiresAt > now) {
        // Its owner holds it: waited for while it may end within the wait, until it is renewed.
        const seen = waited.get(key);
        if ((seen !== undefined && leaseExpiresAt > seen) || leaseExpiresAt - now > left) done.add(key);
        else {
          waited.set(key, leaseExpiresAt);
          nextEnd = Math.min(nextEnd, leaseExpiresAt - now);
        }
        continue;
      }
      done.add(key);
      try {
        const session = await adoptOne(store, info, delegateFor, options.leaseMs, place);
        if (session !== undefined) recovered.push(session);
      } catch (error) {
        if (error instanceof Unreadable || error instanceof BrokeBound) {
          logger.warn(`codecell: session ${key} was not recovered: ${error.message}`);
          continue;
        }
        if (recovered.length === 0) throw error;
        logger.warn(
          `codecell: recovering session ${key} failed, and those after it wait for a later recovery: ${messageOf(error)}`,
        );
        return recovered;
      }
    }
    if (nextEnd === Infinity || performance.now() >= until) return recovered;
    await new Promise((resolve) => setTimeout(resolve, Math.min(nextEnd + 5, until - performance.now())));
  }
}

/** Adopts one session and makes it live (undefined: left to its owner, or by `delegateFor`). */
async function adoptOne<S>(
  store: CodeCellStore,
  info: StoredSessionInfo,
  delegateFor: DelegateFor,
  leaseMs: number,
  place: (adoption: Adoption) => Promise<S>,
): Promise<S | undefined> {
  if (info.unreadable !== undefined) throw new Unreadable(info.unreadable);
  const texts = await store.records(info.key);
  if (texts === undefined) return undefined;
  if (texts.length === 0) return void (await removeUnwritten(store, info.key, leaseMs));
  const { options } = readBack(texts);
  const found = await delegateFor({ key: info.key, tools: options.tools ?? [], metadata: info.metadata });
  if (found === undefined) return undefined;
  const delegate = checkDelegate(found);
  const lease = await store.adopt(info.key, PROCESS_OWNER, leaseMs);
  if (lease === undefined) return undefined;
  let read: ReadLog;
  try {
    // Read again under the new epoch: the former owner can write nothing after it.
    read = readBack((await store.records(info.key)) ?? []);
    if (!(await stillHeld(store, lease, leaseMs))) return undefined;
    // Ids go on after the key's earlier session's, though this one wrote no cell yet.
    if (lease.nextCellId !== undefined) read.ledger.cellSeen(String(lease.nextCellId - 1));
  } catch (error) {
    await release(store, lease);
    throw error;
  }
  return place({ read, lease, delegate });
}

/**
 * A session whose creator stopped before writing its first record (its options): nothing of it
 * was ever acknowledged — no cell was admitted — so it is removed, its key free again (ids going
 * on after any it had). Its creator, if it wakes, finds it gone.
 */
async function removeUnwritten(store: CodeCellStore, key: string, leaseMs: number): Promise<void> {
  const lease = await store.adopt(key, PROCESS_OWNER, leaseMs);
  if (lease === undefined) return;
  // Read under the new epoch: its creator can write nothing more.
  if ((await store.records(key))?.length !== 0) return release(store, lease);
  await store.remove(key, lease.epoch, lease.nextCellId ?? 1);
  throw new Unreadable('its creator stopped before writing anything of it: removed, its key is free again');
}

/** The session's records as this codecell reads them; Unreadable saying why when it cannot. */
function readBack(texts: readonly string[]): ReadLog {
  try {
    return readLog(texts);
  } catch (error) {
    if (error instanceof BrokeBound) throw new Unreadable(`its log ${error.message}`);
    throw new Unreadable(`its log does not read as this codecell's: ${messageOf(error)}`);
  }
}

/**
 * Whether the adopted lease is held still, renewed. A read slower than the lease (a store
 * restarting) lets another process adopt the session meanwhile: its log, read before that
 * process wrote, is not this one's to drive.
 */
async function stillHeld(store: CodeCellStore, lease: StoreLease, leaseMs: number): Promise<boolean> {
  const lost = await store.renew(lease.owner, [{ key: lease.key, epoch: lease.epoch }], leaseMs);
  return !lost.includes(lease.key);
}

/**
 * A lease adopted and not kept (the session could not be made here): released, so another
 * recovery may adopt it at once. A store that cannot release it lets it run out.
 */
export async function release(store: CodeCellStore, lease: StoreLease): Promise<void> {
  await store.renew(lease.owner, [{ key: lease.key, epoch: lease.epoch }], 1).catch(() => {});
}

/** An error making an adopted session live that says its stored options are not a session's. */
export function unreadableOptions(error: unknown): Error {
  return isCodeCellError(error) && error.code === 'ERR_INVALID_REQUEST'
    ? new Unreadable(`its options are not a session's: ${error.message}`)
    : (error as Error);
}
