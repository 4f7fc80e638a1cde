// The codecell-host wire protocol (SPEC §8): method names, parameter and result shapes, and the
// mapping between CodeCellError codes and JSON-RPC error codes.
import type { CellLimits } from '../src/limits.js';
import { CodeCellError, ERROR_CODES, type CodeCellErrorCode } from '../src/errors.js';
import { INTERNAL_ERROR, INVALID_PARAMS } from '../src/pending-router.js';
import type {
  CellEvent,
  CellId,
  CellNotification,
  CellStreamEvent,
  ExecuteRequest,
  JsonValue,
  NestedToolCall,
  ObserveMode,
  ToolDefinition,
} from '../src/types.js';

export const PROTOCOL_VERSION = 1;

export const Methods = {
  initialize: 'initialize',
  sessionCreate: 'session/create',
  cellExecute: 'cell/execute',
  cellObserve: 'cell/observe',
  cellTerminate: 'cell/terminate',
  sessionShutdown: 'session/shutdown',
  toolInvoke: 'tool/invoke',
  cellNotify: 'cell/notify',
  cellEvent: 'cell/event',
  cellClosed: 'cell/closed',
} as const;

export type SessionId = string;

export interface InitializeParams { protocolVersion: number; clientInfo?: { name: string; version?: string } }
export interface InitializeResult { protocolVersion: number; serverInfo: { name: string; version: string }; limits: CellLimits }
export interface SessionCreateParams {
  tools?: ToolDefinition[];
  limits?: Partial<CellLimits>;
  storedValues?: 'enabled' | 'disabled';
  setupSource?: string;
}
export interface SessionCreateResult { sessionId: SessionId; setupEvent?: CellEvent; setupCellId?: CellId }
export interface CellExecuteParams { sessionId: SessionId; request: ExecuteRequest; observe?: ObserveMode }
export interface CellExecuteResult { cellId: CellId; event: CellEvent }
export interface CellObserveParams { sessionId: SessionId; cellId: CellId; mode: ObserveMode }
export interface CellTerminateParams { sessionId: SessionId; cellId: CellId }
export interface SessionShutdownParams { sessionId: SessionId }
export interface ToolInvokeParams { sessionId: SessionId; call: NestedToolCall }
export type ToolInvokeResult = JsonValue | null;
export interface CellNotifyParams { sessionId: SessionId; notification: CellNotification }
export interface CellEventParams { sessionId: SessionId; cellId: CellId; event: CellStreamEvent }
export interface CellClosedParams { sessionId: SessionId; cellId: CellId }

export const JsonRpcErrors = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: INVALID_PARAMS,
  internalError: INTERNAL_ERROR,
  /** The request is valid but the cell or session is in a state that refuses it. */
  conflict: -32001,
  /** A limit of SPEC §9 refused the request. */
  limitExceeded: -32002,
} as const;

/** The JSON-RPC code a CodeCellError crosses the wire with; server faults stay -32603. */
export function wireCodeOf(code: CodeCellErrorCode): number {
  switch (code) {
    case 'ERR_INVALID_REQUEST':
    case 'ERR_MISSING_CELL':
      return JsonRpcErrors.invalidParams;
    case 'ERR_BUSY_OBSERVER':
    case 'ERR_ALREADY_TERMINATING':
    case 'ERR_SHUTTING_DOWN':
      return JsonRpcErrors.conflict;
    case 'ERR_LIMIT_EXCEEDED':
      return JsonRpcErrors.limitExceeded;
    default:
      return JsonRpcErrors.internalError;
  }
}

export interface WireErrorData { code: CodeCellErrorCode }

/** The CodeCellError a JSON-RPC error stands for (ERR_PROTOCOL when it carries no known code). */
export function errorFromWire(error: { code: number; message: string; data?: unknown }): CodeCellError {
  const data = error.data as Partial<WireErrorData> | undefined;
  const code = data?.code;
  if (typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code)) {
    return new CodeCellError(code as CodeCellErrorCode, error.message, { cause: error });
  }
  return new CodeCellError('ERR_PROTOCOL', `JSON-RPC error ${error.code}: ${error.message}`, { cause: error });
}
