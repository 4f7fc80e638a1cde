// What host/ and the bins use of src beyond the public surface (src/index.ts): one list, so a
// change inside src sees every outside user. Not part of the package's exports.
export { Deadline } from './cell/deadline.js';
export { closestNames } from './tools/tool-names.js';
export { startCall } from './cell/callbacks.js';
export { CellStreams } from './streams/cell-streams.js';
export type { SessionCursorOptions } from './streams/session-cursor.js';
export { readByTurn } from './streams/by-turn.js';
export { CODECELL_VERSION, DEFAULT_OBSERVE, DEFAULT_YIELD_MS } from './defaults.js';
export { messageOf, missingCell, notInterrupted, quiet, toolErrorText } from './errors.js';
export { isCellInterrupt } from './interrupt.js';
export { byteLength, ParsedJson, toJsonText } from './json.js';
export { assertIsolatesUsable } from './isolate/load.js';
export { settleIsolatesForExit } from './isolate/pool.js';
export { isolatesDisposedCount } from './isolate/teardown.js';
export { answeredReadingCount, waitedDeliveriesCount } from './isolate/sandbox-waits.js';
export { checkLimits, DEFAULT_LIMITS } from './limits.js';
export { runGateTotals } from './isolate/run-gate.js';
export { pausedCellsTotal } from './session/session-gate.js';
export { consoleLogger } from './logger.js';
export { INTERNAL_ERROR, INVALID_PARAMS } from './streams/pending-router.js';
export { busyObserverError, SessionBase } from './session/session-base.js';
export { outcomeOf, PendingAnswers } from './session/approvals.js';
export { checkCellAnswer, checkDelegate, checkSessionKey, checkSuspendOptions } from './validate.js';
export { checkSnapshot } from './session/snapshot.js';
export { ToolInputChecks } from './tools/tool-input.js';
export { errorKindOf, errorOfKind, idempotencyKey } from './cell/tool-calls.js';
export { recordsSpans, traceMeta, withTraceMeta, type TraceMeta } from './tracing.js';
export { hostedCells } from './session/session-runtime.js';
export type { CellJournalUpdate, HostedCells, JournalTaken } from './session/hosted-cells.js';
export { ledgerFigures, SessionLedger, type LedgerFigures, type LostCalls } from './ledger/session-ledger.js';
export { MAX_CELL_MOVES } from './ledger/cell-ledger.js';
export { cursorAfter, readLog, type ReadLog } from './ledger/log-records.js';
export { compactLog } from './ledger/log-compaction.js';
export { planInDoubt, type InDoubtPlan } from './ledger/in-doubt.js';
export { checkRecoverArgs, recoverEach, type Adoption, type DelegateFor } from './session/adoption.js';
export { PROCESS_OWNER, SessionLog } from './store/session-log.js';
export { AnswerGate } from './store/answer-gate.js';
export { DEFAULT_LEASE_MS, type CodeCellStore, type StoreLease } from './store/store.js';
export { StoredHistory } from './ledger/stored-history.js';
export { BrokeBound, type PartDelivery, type PartStart, type PartUpdate } from './ledger/ledger-parts.js';
export type { ReplayableCell, ReplayStart } from './session/snapshot.js';
export {
  CellJournal,
  type JournalMark,
  type JournalUpdate,
  type JournalDelivery,
  type JournaledCall,
} from './cell/journal.js';
