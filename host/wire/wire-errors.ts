// The protocol's errors: its JSON-RPC codes, the code a CodeCellError crosses the wire with, and
// the CodeCellError a JSON-RPC error stands for.
import { CodeCellError, ERROR_CODES, type CodeCellErrorCode } from '../../src/index.js';
import { INTERNAL_ERROR, INVALID_PARAMS } from '../../src/internal.js';

/** The JSON-RPC error codes of the protocol. */
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
  /** A delegate failure, answering a host → client request. */
  delegateFailed: -32000,
  /** The requester cancelled the request ($/cancelRequest). */
  requestCancelled: -32800,
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

/** The `data` of a JSON-RPC error: the CodeCellError code (and an error kind) it stands for. */
export interface WireErrorData {
  code: CodeCellErrorCode;
}

/** The CodeCellError a JSON-RPC error stands for (ERR_PROTOCOL when it carries no known code). */
export function errorFromWire(error: { code: number; message: string; data?: unknown }): CodeCellError {
  const data = error.data as Partial<WireErrorData> | undefined;
  const code = data?.code;
  if (typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code)) {
    return new CodeCellError(code as CodeCellErrorCode, error.message, { cause: error });
  }
  return new CodeCellError('ERR_PROTOCOL', `JSON-RPC error ${error.code}: ${error.message}`, { cause: error });
}
