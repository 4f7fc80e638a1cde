// SessionRuntime.recover (SPEC §16): a process adopts the sessions of a store whose owner is gone
// and they go on here. Each session's log is read into its ledger (log-records.ts); its stored
// values and cell ids continue; each open cell runs again from its journal, as a cell lost with its
// host does (hostedCells' replayCell): answered calls get their outcomes from the record, a call in
// doubt (started, no outcome) is made again only if its tool is idempotent — with its idempotency
// key — and otherwise the cell pauses at it (`reason: 'inDoubt'`) for the agent to settle.
import { CodeCellError, messageOf } from '../errors.js';
import type { CellLedger } from '../ledger/cell-ledger.js';
import { planInDoubt } from '../ledger/in-doubt.js';
import { PROCESS_OWNER } from '../store/session-log.js';
import { heldHere } from '../store/session-lease.js';
import { DEFAULT_LEASE_MS, type CodeCellStore, type StoredSessionInfo, type StoreLease } from '../store/store.js';
import { BrokeBound } from '../ledger/ledger-parts.js';
import { consoleLogger } from '../logger.js';
import type { JsonValue, Logger, SessionRuntimeDelegate, ToolDefinition } from '../types.js';
import { checkDelegate } from '../validate.js';
import type { HostedCells } from './hosted-cells.js';
import { readLog, type ReadLog } from '../ledger/log-records.js';
import type { SessionRuntimeOptions } from './options.js';
import type { SessionDurability } from './session-durability.js';

type DelegateFor = (
  info: RecoveryInfo,
) => SessionRuntimeDelegate | undefined | Promise<SessionRuntimeDelegate | undefined>;

/** What recovery needs of a session it made from a log (SessionRuntime gives it). */
export interface Adopted<S> {
  session: S;
  hosted: HostedCells;
  durable: SessionDurability;
  logger: Logger;
}

/** Makes a live session of an adopted log (the runtime's own part). */
export type Adopt<S> = (read: ReadLog, lease: StoreLease, delegate: SessionRuntimeDelegate) => Adopted<S>;

/** Adopts the store's sessions whose lease ran out (those `delegateFor` takes), each live. */
export async function recoverSessions<S>(
  store: CodeCellStore,
  delegateFor: DelegateFor,
  options: RecoverOptions | undefined,
  adopt: Adopt<S>,
): Promise<S[]> {
  if (typeof delegateFor !== 'function')
    throw new CodeCellError('ERR_INVALID_REQUEST', 'delegateFor must be a function (info) => delegate | undefined');
  const keys = options?.keys;
  if (keys !== undefined && (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string')))
    throw new CodeCellError('ERR_INVALID_REQUEST', 'options.keys must be an array of session keys');
  const logger = options?.logger ?? consoleLogger;
  return recoverEach(store, keys, logger, (info) => recoverOne(store, info, delegateFor, options, adopt));
}

/**
 * Whether the adopted lease is held still, renewed. A read slower than the lease (a store
 * restarting) lets another process adopt the session meanwhile: its log, read before that
 * process wrote, is not this one's to drive.
 */
export async function stillHeld(store: CodeCellStore, lease: StoreLease, leaseMs: number): Promise<boolean> {
  const lost = await store.renew(PROCESS_OWNER, [{ key: lease.key, epoch: lease.epoch }], leaseMs);
  return !lost.includes(lease.key);
}

/**
 * Recovers (`one`) each of the store's sessions whose lease ran out (of `keys`, when given). A log
 * this codecell cannot read is left as it is. When the store fails (a restart, a dropped
 * connection), those recovered already live here, under leases this process holds: they are
 * handed out, never left undriven, and the rest wait for a later recovery.
 */
export async function recoverEach<S>(
  store: CodeCellStore,
  keys: readonly string[] | undefined,
  logger: Logger,
  one: (info: StoredSessionInfo) => Promise<S | undefined>,
): Promise<S[]> {
  const recovered: S[] = [];
  const sessions = await store.sessions();
  // Leases run out by the store's clock (the agents' need not agree); the store decides at adopt.
  const now = (await store.now?.()) ?? Date.now();
  for (const info of sessions) {
    if (keys !== undefined && !keys.includes(info.key)) continue;
    // Its owner holds it, or this process drives it still (its lease ran out unrenewed).
    if (info.leaseExpiresAt > now || heldHere(store, info.key)) continue;
    try {
      const session = await one(info);
      if (session !== undefined) recovered.push(session);
    } catch (error) {
      if (error instanceof BrokeBound) {
        logger.warn(`codecell: session ${info.key} was not recovered: its log ${error.message}`);
        continue;
      }
      if (recovered.length === 0) throw error;
      logger.warn(
        `codecell: recovering session ${info.key} failed, and those after it wait for a later recovery: ${messageOf(error)}`,
      );
      break;
    }
  }
  return recovered;
}

/** Adopts one session and makes it live (undefined: left to its owner, or by `delegateFor`). */
async function recoverOne<S>(
  store: CodeCellStore,
  info: StoredSessionInfo,
  delegateFor: DelegateFor,
  options: RecoverOptions | undefined,
  adopt: Adopt<S>,
): Promise<S | undefined> {
  const texts = await store.records(info.key);
  if (texts === undefined) return undefined;
  const { options: given } = readLog(texts);
  const found = await delegateFor({ key: info.key, tools: given.tools ?? [], metadata: info.metadata });
  if (found === undefined) return undefined;
  const delegate = checkDelegate(found);
  const lease = await store.adopt(info.key, PROCESS_OWNER, options?.leaseMs ?? DEFAULT_LEASE_MS);
  if (lease === undefined) return undefined;
  // Read again under the new epoch: the former owner can write nothing after it.
  const read = readLog((await store.records(info.key)) ?? []);
  if (!(await stillHeld(store, lease, options?.leaseMs ?? DEFAULT_LEASE_MS))) return undefined;
  const adopted = adopt(read, lease, delegate);
  await runAgain(read, adopted);
  return adopted.session;
}

/** Each open cell of the log runs again here (or ends, when it cannot). */
async function runAgain<S>(read: ReadLog, adopted: Adopted<S>): Promise<void> {
  const { hosted, durable, logger } = adopted;
  for (const cellId of read.ledger.cellIds) {
    const ledger = read.ledger.cell(cellId) as CellLedger;
    const replayable = read.ledger.replayable(cellId);
    if (typeof replayable === 'string') {
      logger.warn(`codecell: cell ${cellId} of session ${read.options.key} cannot run again: ${replayable}`);
      durable.adopting(cellId);
      hosted.loseCell(cellId, ledger.lost(true), `its agent process was lost, and it cannot run again: ${replayable}`);
      continue;
    }
    // Its calls in doubt of idempotent tools are made again by its run, under its own signal.
    const { cell, again } = planInDoubt(ledger, replayable);
    await durable.replayed(cellId, again);
    try {
      await hosted.replayCell(cell);
    } catch (error) {
      // Refused here (say, past this process's caps): it ends, as a cell that cannot run again.
      hosted.loseCell(
        cellId,
        ledger.lost(true),
        `its agent process was lost, and it could not run again here: ${messageOf(error)}`,
      );
      continue;
    }
    ledger.replaying((callId, answer) => hosted.settleCall(cellId, callId, answer), again);
  }
}

/** What a recovery's `delegateFor` is told of a session it may adopt. */
export interface RecoveryInfo {
  key: string;
  /** The session's own tools. */
  tools: ToolDefinition[];
  /** What it was created with as `metadata` (null without). */
  metadata: JsonValue | null;
}

/** What `SessionRuntime.recover` takes besides the store: the sessions' options, and which to adopt. */
export interface RecoverOptions extends Omit<SessionRuntimeOptions, 'store' | 'key' | 'metadata' | 'tools' | 'limits'> {
  /** Only these sessions (default: every one whose lease ran out). */
  keys?: string[];
}
