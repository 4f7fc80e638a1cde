// SessionRuntime.recover (SPEC §16): a process adopts the sessions of a store whose owner is gone
// and they go on here. Each session's log is read into its ledger (log-records.ts); its stored
// values and cell ids continue; each open cell runs again from its journal, as a cell lost with its
// host does (hostedCells' replayCell): answered calls get their outcomes from the record, a call in
// doubt (started, no outcome) is made again only if its tool is idempotent — with its idempotency
// key — and otherwise the cell pauses at it (`reason: 'inDoubt'`) for the agent to settle.
import { messageOf } from '../errors.js';
import type { CellLedger } from '../ledger/cell-ledger.js';
import { planInDoubt } from '../ledger/in-doubt.js';
import { DEFAULT_LEASE_MS, type CodeCellStore, type StoreLease } from '../store/store.js';
import { consoleLogger } from '../logger.js';
import type { Logger, SessionRuntimeDelegate } from '../types.js';
import type { HostedCells } from './hosted-cells.js';
import type { ReadLog } from '../ledger/log-records.js';
import { checkRecoverArgs, recoverEach, release, unreadableOptions, type DelegateFor } from './adoption.js';
import type { SessionRuntimeOptions } from './options.js';
import type { SessionRecords } from './session-records.js';

export type { RecoveryInfo } from './adoption.js';

/** What recovery needs of a session it made from a log (SessionRuntime gives it). */
export interface Adopted<S> {
  session: S;
  hosted: HostedCells;
  durable: SessionRecords;
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
  checkRecoverArgs(delegateFor, options?.keys, options?.waitMs);
  const given = { keys: options?.keys, leaseMs: options?.leaseMs ?? DEFAULT_LEASE_MS, waitMs: options?.waitMs };
  return recoverEach(store, delegateFor, { ...given, logger: options?.logger ?? consoleLogger }, async (adoption) => {
    const { read, lease, delegate } = adoption;
    let adopted: Adopted<S>;
    try {
      adopted = adopt(read, lease, delegate);
    } catch (error) {
      await release(store, lease);
      throw unreadableOptions(error);
    }
    await runAgain(read, adopted);
    return adopted.session;
  });
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

/** What `SessionRuntime.recover` takes besides the store: the sessions' options, and which to adopt. */
export interface RecoverOptions extends Omit<SessionRuntimeOptions, 'store' | 'key' | 'metadata' | 'tools' | 'limits'> {
  /** Only these sessions (default: every one whose lease ran out). */
  keys?: string[];
  /**
   * Also waits up to this long for leases that end meanwhile, adopting each as it ends (a process
   * restarted at once finds its predecessor's still leased); one renewed meanwhile has a live
   * owner and is not waited for. Default 0: only those ended now. `store.sessions()` says when
   * each lease ends (`leaseExpiresAt`, by the store's clock).
   */
  waitMs?: number;
}
