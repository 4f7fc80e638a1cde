// What the engine's two sides share (rpc.ts, incoming.ts): request ids, JSON-RPC errors, results
// serialised ahead, and the params check of a method of the table.
import { CodeCellError } from '../../src/index.js';
import { messageOf } from '../../src/internal.js';
import { JsonRpcErrors, wireCodeOf, type MethodSpec, type ParamsOf, type Serialised } from './protocol.js';
import { isRecord } from './shape.js';

export type RequestId = string | number;

/** A JSON-RPC error: what a handler throws to answer with it, and what a request rejects with. */
export class RpcError extends Error {
  readonly code: number;
  readonly data: unknown;

  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }
}

/** What an error answer carries. */
export interface WireError {
  readonly code: number;
  readonly message: string;
  readonly data?: unknown;
}

/** The text of an error answer to request `id` (null: to a message that could not be read). */
export function errorAnswerText(id: RequestId | null, { code, message, data }: WireError): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: { code, message, ...(data === undefined ? {} : { data }) } });
}

/**
 * An error answer a handler settles with when nothing was thrown (a delegate's failure): a plain
 * value, not an Error, so 10 000 cancelled tool calls capture no stack trace.
 */
export class ErrorAnswer implements WireError {
  readonly code: number;
  readonly message: string;
  readonly data: unknown;

  constructor(code: number, message: string, data?: unknown) {
    this.code = code;
    this.message = message;
    this.data = data;
  }
}

/** A result serialised already (checked by its maker): its text goes into the answer as is. */
export class JsonText implements Serialised {
  readonly text: string;

  constructor(text: string) {
    this.text = text;
  }
}

/** Sends a notification of the table. */
export type Notify = <M extends MethodSpec>(method: M, params: ParamsOf<M>) => void;

export const invalidParams = (message: string): RpcError =>
  new RpcError(JsonRpcErrors.invalidParams, message, { code: 'ERR_INVALID_REQUEST' });

/** The JSON-RPC error a handler failure is answered with; a failure of codecell's own is -32603. */
export function toRpcError(error: unknown): WireError {
  if (error instanceof RpcError || error instanceof ErrorAnswer) return error;
  if (error instanceof CodeCellError) return new RpcError(wireCodeOf(error.code), error.message, { code: error.code });
  return new RpcError(JsonRpcErrors.internalError, `internal error: ${messageOf(error)}`);
}

export { isRecord };

/** The method's params, checked against its schema; anything else is a -32602 answer. */
export function parseParams<M extends MethodSpec>(method: M, params: unknown): ParamsOf<M> {
  if (!isRecord(params)) throw invalidParams(`${method.name} params must be an object`);
  const parsed = method.params.safeParse(params);
  if (parsed.success) return parsed.data as ParamsOf<M>;
  const [issue] = parsed.error.issues;
  const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.join('.')}: `;
  throw invalidParams(`${method.name} params: ${where}${issue?.message ?? 'invalid'}`);
}
