// The module that runs vscode-jsonrpc (framing.ts reads its frames): a connection over a pair
// of streams, methods registered and called through the rows of the method table (params
// validated, results typed) and the error conversions of the protocol (AbortSignal adapters:
// signals.ts).
import {
  createMessageConnection,
  ResponseError,
  type CancellationToken,
  type Message,
  type MessageConnection,
} from 'vscode-jsonrpc/node.js';
import { CodeCellError, type Logger } from '../../src/index.js';
import { messageOf } from '../../src/internal.js';
import type { Carrier } from './carrier.js';
import { Inbound, type Answer, type Interceptor } from './inbound.js';
import {
  errorFromWire,
  JsonRpcErrors,
  Methods,
  wireCodeOf,
  type Direction,
  type Handlers,
  type MethodKind,
  type MethodSpec,
  type ParamsOf,
  type ResultOf,
} from './protocol.js';

export type { CancellationToken, Interceptor, MessageConnection };
export { ResponseError };

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Opens a JSON-RPC connection. Malformed input never reaches the dispatcher unanswered: bytes
 * that are not JSON get a -32700 answer, JSON that is not a JSON-RPC message a -32600 one.
 */
export interface Connection {
  readonly connection: MessageConnection;
  /**
   * Sends a notification through the connection's one writer; unlike the connection's own
   * sendNotification it still works after the input closed (to report cells closing).
   */
  notify<M extends MethodSpec>(method: M, params: ParamsOf<M>): void;
  /**
   * Writes one JSON-RPC message as is (requests and answers handled outside vscode-jsonrpc): an
   * object without its `jsonrpc` member, or the text of a whole message.
   */
  send(message: object | string): void;
  /** Resolves when everything sent so far was handed to the output stream. */
  flush(): Promise<void>;
}

export interface ConnectionOptions {
  /** How much the peer may leave unread before it is given up (default 64 MiB). */
  maxQueuedBytes?: number;
  /** The peer left more than maxQueuedBytes unread (after the warning is logged). */
  overflow?(error: Error): void;
}

export function openConnection(
  carrier: Carrier,
  logger: Logger,
  intercept?: Interceptor,
  options: ConnectionOptions = {},
): Connection {
  // Written past the hook that frees an answered id: a refused request's id is not this answer's
  // to free (a duplicate's refusal must not free the original request's id).
  const answer: Answer = (id, code, message, data) =>
    writer.push(
      JSON.stringify({ jsonrpc: '2.0', id, error: { code, message, ...(data === undefined ? {} : { data }) } }),
    );
  const inbound = new Inbound(intercept, answer);
  const writer = carrier.writer(
    {
      lost: (error) =>
        logger.warn(`codecell: the peer stopped reading (${messageOf(error)}); later messages to it are dropped`),
      overflow: (error) => options.overflow?.(error),
      // An answered id may be used again by the peer.
      written: ({ id, method }) => {
        if (method === undefined) inbound.answered(id);
      },
    },
    options.maxQueuedBytes,
  );
  const reader = carrier.reader({
    body: (text) => inbound.admit(text),
    malformed: (reason) => {
      logger.warn(`codecell: unreadable input: ${reason}`);
      answer(null, JsonRpcErrors.parseError, `Parse error: ${reason}`);
    },
  });
  inbound.reader = reader;
  const connection = createMessageConnection(reader, writer, quietLogger(logger), {
    messageStrategy: {
      handleMessage: (message, next) => {
        inbound.dispatched(message);
        next(message);
      },
    },
  });
  // No promise per message: only flush() asks when what was sent is out. The envelope's member is
  // written before the message's own (never empty: an id or a method), with no copy of the object.
  const send = (message: object | string): void =>
    writer.push(typeof message === 'string' ? message : `{"jsonrpc":"2.0",${JSON.stringify(message).slice(1)}`);
  const notify = <M extends MethodSpec>(method: M, params: ParamsOf<M>): void => send({ method: method.name, params });
  const flush = async (): Promise<void> => {
    await writer.written();
    await carrier.flush();
  };
  return { connection, notify, send, flush };
}

/** vscode-jsonrpc's errors and warnings go to the logger; its chatter does not. */
function quietLogger(logger: Logger) {
  return {
    error: (message: string) => logger.error(message),
    warn: (message: string) => logger.warn(message),
    info: () => {},
    log: () => {},
  };
}

/** The JSON-RPC error a handler failure is answered with. */
export function toResponseError(error: unknown): ResponseError<unknown> {
  if (error instanceof ResponseError) return error;
  if (error instanceof CodeCellError)
    return new ResponseError(wireCodeOf(error.code), error.message, { code: error.code });
  return new ResponseError(JsonRpcErrors.internalError, `internal error: ${messageOf(error)}`);
}

/** The local error for a failed outgoing request. */
export function fromResponseError(error: unknown): unknown {
  if (error instanceof ResponseError) return errorFromWire(error);
  return error;
}

export const invalidParams = (message: string): ResponseError<unknown> =>
  new ResponseError(JsonRpcErrors.invalidParams, message, { code: 'ERR_INVALID_REQUEST' });

/** The method's params, checked against its schema; anything else is a -32602 answer. */
export function parseParams<M extends MethodSpec>(method: M, params: unknown): ParamsOf<M> {
  if (!isRecord(params)) throw invalidParams(`${method.name} params must be an object`);
  const parsed = method.params.safeParse(params);
  if (parsed.success) return parsed.data as ParamsOf<M>;
  const [issue] = parsed.error.issues;
  const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.join('.')}: `;
  throw invalidParams(`${method.name} params: ${where}${issue?.message ?? 'invalid'}`);
}

/** Serves one request method: every failure becomes one JSON-RPC error answer. */
export function onRequest<M extends MethodSpec>(
  connection: MessageConnection,
  method: M,
  handler: (params: ParamsOf<M>, token: CancellationToken) => Promise<ResultOf<M>> | ResultOf<M>,
): void {
  connection.onRequest(method.name, (params: unknown, token: CancellationToken) =>
    Promise.resolve()
      .then(() => handler(parseParams(method, params), token))
      .catch((error: unknown) => {
        throw toResponseError(error);
      }),
  );
}

/** Hears one notification method; a malformed one is logged and dropped. */
export function onNotification<M extends MethodSpec>(
  connection: MessageConnection,
  method: M,
  handler: (params: ParamsOf<M>) => void,
  logger: Logger,
): void {
  connection.onNotification(method.name, (params: unknown) => {
    try {
      handler(parseParams(method, params));
    } catch (error) {
      logger.warn(`codecell: ignored ${method.name}: ${messageOf(error)}`);
    }
  });
}

/** Registers one handler per method of the table a side receives (see Handlers). */
export function serveMethods<D extends Direction, K extends MethodKind>(
  connection: MessageConnection,
  handlers: Handlers<D, K>,
  logger: Logger,
): void {
  for (const [key, handler] of Object.entries(handlers) as [keyof typeof Methods, (...args: never[]) => unknown][]) {
    const method = Methods[key] as MethodSpec;
    // Each handler is typed by its own row (Handlers); here they are registered alike.
    if (method.kind === 'request')
      onRequest(connection, method, handler as (params: unknown, token: CancellationToken) => unknown);
    else onNotification(connection, method, handler as (params: unknown) => void, logger);
  }
}

/** Sends a request of the table; the token (if any) cancels it with $/cancelRequest. */
export function sendRequest<M extends MethodSpec>(
  connection: MessageConnection,
  method: M,
  params: ParamsOf<M>,
  token?: CancellationToken,
): Promise<ResultOf<M>> {
  // vscode-jsonrpc reads a trailing undefined as one more parameter: pass a token only if any.
  return token === undefined
    ? connection.sendRequest<ResultOf<M>>(method.name, params)
    : connection.sendRequest<ResultOf<M>>(method.name, params, token);
}
