// The public surface of `codecell`, exported by name (a test pins this list).
export { SessionRuntime, DEFAULT_CALLBACK_ABORT_DEADLINE_MS } from './session/session-runtime.js';
export type {
  RecoverOptions,
  RecoveryInfo,
  SessionRuntimeConstructor,
  SessionRuntimeOptions,
  SuspendOptions,
} from './session/session-runtime.js';
export type { Deterministic } from './cell/delivery-order.js';
export { advanceDurableCell, makeCall, runDurableCell } from './durable/durable-cell.js';
export type {
  AdvancingSteps,
  CallStep,
  DurableCellOptions,
  DurableCellResult,
  DurableSteps,
  StepOptions,
  StepRetries,
} from './durable/durable-cell.js';
export { memoryStore } from './store/memory-store.js';
export { sqliteStore, type SqliteStoreOptions } from './store/sqlite-store.js';
export {
  postgresStore,
  type PostgresConnection,
  type PostgresPool,
  type PostgresStoreOptions,
} from './store/postgres-store.js';
export type { CodeCellStore, SessionSummary, StoredSessionInfo, StoreLease } from './store/store.js';
export type { PausedCellSnapshot, ReplayableCell, ReplayStart, SessionSnapshot } from './session/snapshot.js';
export type { JournalDelivery, JournaledCall, JournalSnapshot, JournalUpdate } from './cell/journal.js';
export { CodeCellError, ERROR_CODES, isCodeCellError } from './errors.js';
export { approvalInterrupt, requireApproval, CellInterrupt } from './interrupt.js';
export { cellFailure } from './outcome.js';
export type { CodeCellErrorCode } from './errors.js';
export { DEFAULT_LIMITS } from './limits.js';
export type { CellLimits } from './limits.js';
export { PendingRouter, OVERFLOW_MESSAGE, ROUTING_ENDED_MESSAGE } from './streams/pending-router.js';
export type {
  PendingGuard,
  PendingRouterOptions,
  RoutedEntry,
  RouteSink,
  RoutingFailure,
} from './streams/pending-router.js';
export { toolIdentifier } from './tools/tool-names.js';
export { IsolatePool, DEFAULT_ISOLATE_POOL_SIZE } from './isolate/pool.js';
export type { IsolatePoolOptions } from './isolate/pool.js';
export { renderToolDeclarations, describeExecTool } from './tools/declarations.js';
export {
  createCodeModeTools,
  codeModeResult,
  codeModeStatus,
  describePause,
  renderCodeModeResult,
} from './tools/code-mode-tools.js';
export type {
  CellPause,
  CodeModeResult,
  CodeModeSearchTool,
  CodeModeTarget,
  CodeModeTool,
  CodeModeTools,
  CodeModeToolsOptions,
  ExecInput,
  ExecuteOptions,
  WaitInput,
} from './tools/code-mode-tools.js';
export type { ExecToolOptions, ModelToolDescription } from './tools/declarations.js';
export { defineTool, toolSource } from './tools/typed-tools.js';
export type {
  FromJsonSchema,
  FromJsonSchemaObject,
  InputOf,
  JsonSchemaLiteral,
  StandardToolSchema,
  StandardValidation,
  TypedTool,
  TypedToolOptions,
  TypedToolSource,
} from './tools/typed-tools.js';
export type {
  CallOutcome,
  CellAnswer,
  CellEvent,
  CellId,
  CellLanguage,
  CellNotification,
  CellStreamEvent,
  EventsOptions,
  ExecuteRequest,
  HandOffStream,
  OpenCell,
  ImageDetail,
  JsonValue,
  Logger,
  NestedToolCall,
  ObserveMode,
  OutputItem,
  PendingEvent,
  SessionCellEvent,
  SessionEventsOptions,
  SessionRuntimeDelegate,
  SessionStreamEvent,
  StartedCell,
  TerminationReason,
  ToolCallRecord,
  ToolDefinition,
  ToolKind,
} from './types.js';

export type { CodeCellSession } from './session-interface.js';
