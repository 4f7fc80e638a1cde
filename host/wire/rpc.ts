// The one JSON-RPC 2.0 engine of codecell (ADR 13), for every method in both directions: requests
// out with ids of their own, answered or given up on with their AbortSignal; the peer's requests
// dispatched to the handlers of the method table, each answered exactly once; notifications.
// Cancellation is the same for every method: the requester gives a request up at once and sends
// `$/cancelRequest`, which aborts the handler's signal and is answered -32800 (RequestCancelled).
// Requests that share one signal (a cell's tool calls) may be given up together with one
// notification of the caller's choosing (cell/cancel) instead. What the peer sends is decoded
// here: text that is not JSON gets a -32700 answer, JSON that is not a JSON-RPC message a -32600
// one, a request with params by position, an id already in flight or past MAX_REQUESTS_IN_FLIGHT
// is refused, an unknown method gets -32601.
export {
  ErrorAnswer,
  invalidParams,
  JsonText,
  parseParams,
  RpcError,
  type Notify,
  type RequestId,
  type WireError,
} from './messages.js';
import type { Logger } from '../../src/index.js';
import { messageOf } from '../../src/internal.js';
import type { Carrier, MessageWriter, WriterBounds } from './carrier.js';
import { IncomingRequests } from './incoming.js';
import { errorAnswerText, isRecord, parseParams, RpcError, toRpcError, type RequestId } from './messages.js';
import {
  JsonRpcErrors,
  Methods,
  type Direction,
  type Handlers,
  type IncomingRequest,
  type MethodKind,
  type MethodSpec,
  type ParamsOf,
  type ResultOf,
} from './protocol.js';

/** The peer's requests dispatched and not yet answered, at most; past it a request is refused. */
export const MAX_REQUESTS_IN_FLIGHT = 16_384;

const CANCEL_REQUEST = '$/cancelRequest';

export interface RequestOptions {
  /** Gives the request up: it rejects with the signal's reason at once, and the peer is told. */
  signal?: AbortSignal;
  /**
   * Requests of one signal are given up together, with this one notification instead of a
   * `$/cancelRequest` each (the peer forgets them unanswered: cell/cancel).
   */
  cancelAll?: () => void;
  /**
   * Turns the answer into what the request resolves or rejects with, as it is read (no promise hop
   * after); `params`: the request's own (one decoder serves many requests).
   */
  decode?: { result(result: unknown, params: unknown): unknown; error(error: RpcError): unknown };
  /**
   * Sent at once, not with the rest of its turn: a request whose caller goes on with work of its
   * own in the same turn (a shutdown aborting 10 000 calls) that the peer need not wait for.
   */
  now?: boolean;
}

export interface RpcOptions extends WriterBounds {
  /** The peer was given up: it left too much unread, or stalled (after the warning is logged). */
  overflow?(error: Error): void;
  /** Hears every message the peer sends (the client's liveness watch). */
  heard?(): void;
}

type RequestHandler = (params: unknown, request: IncomingRequest) => unknown;

interface Outgoing {
  readonly params: unknown;
  readonly decode: RequestOptions['decode'];
  resolve(result: unknown): void;
  reject(error: unknown): void;
  /** Removes what watches the request's signal. */
  detach: (() => void) | undefined;
}

const isId = (value: unknown): value is RequestId => typeof value === 'string' || typeof value === 'number';

/** Write errors that mean the peer closed its end (it left; it did not just stop reading). */
const PEER_GONE = new Set(['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

/** One JSON-RPC connection over a carrier. */
export class RpcConnection {
  readonly #carrier: Carrier;
  readonly #logger: Logger;
  readonly #writer: MessageWriter;
  readonly #heard: (() => void) | undefined;
  readonly #requestHandlers = new Map<string, RequestHandler>();
  readonly #notificationHandlers = new Map<string, (params: unknown) => void>();
  readonly #outgoing = new Map<RequestId, Outgoing>();
  readonly #incoming: IncomingRequests;
  /** The requests given up together per signal (RequestOptions.cancelAll). */
  readonly #groups = new WeakMap<AbortSignal, Set<RequestId>>();
  #seq = 0;
  #reading: { stop(): void } | undefined;
  #closed: Error | undefined;

  constructor(carrier: Carrier, logger: Logger, options: RpcOptions = {}) {
    this.#carrier = carrier;
    this.#logger = logger;
    this.#heard = options.heard;
    this.#writer = carrier.writer(
      {
        // A peer that went away (its end closed: EPIPE, reset, destroyed) is no news: its input
        // ends too, and that is handled where it ends. One that stopped reading while there is.
        lost: (error) => {
          const code = (error as NodeJS.ErrnoException).code;
          if (this.#closed !== undefined || (code !== undefined && PEER_GONE.has(code))) return;
          logger.warn(`codecell: the peer stopped reading (${messageOf(error)}); later messages to it are dropped`);
        },
        overflow: (error) => options.overflow?.(error),
      },
      options,
    );
    this.#incoming = new IncomingRequests((text) => this.#writer.push(text));
  }

  /** Registers one handler per method of the table this side receives (see Handlers). */
  serve<D extends Direction, K extends MethodKind>(handlers: Handlers<D, K>): void {
    for (const [key, handler] of Object.entries(handlers) as [keyof typeof Methods, (...args: never[]) => unknown][]) {
      const method = Methods[key] as MethodSpec;
      // Each handler is typed by its own row (Handlers); here they are registered alike.
      if (method.kind === 'request') {
        const serve = handler as (params: unknown, request: IncomingRequest) => unknown;
        this.#requestHandlers.set(method.name, (params, request) => serve(parseParams(method, params), request));
      } else {
        const hear = handler as (params: unknown) => void;
        this.#notificationHandlers.set(method.name, (params) => hear(parseParams(method, params)));
      }
    }
  }

  /** Starts reading the peer (after the handlers were registered). */
  listen(): void {
    this.#reading ??= this.#carrier.read({
      body: (text) => this.#receive(text),
      malformed: (reason) => {
        this.#logger.warn(`codecell: unreadable input: ${reason}`);
        this.#refuse(null, JsonRpcErrors.parseError, `Parse error: ${reason}`);
      },
    });
  }

  /**
   * Sends a request of the table; rejects with an RpcError answer, the signal's reason, or why the
   * connection closed.
   */
  request<M extends MethodSpec>(method: M, params: ParamsOf<M>, options: RequestOptions = {}): Promise<ResultOf<M>> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    const id = ++this.#seq;
    return new Promise((resolve, reject) => {
      const outgoing: Outgoing = {
        params,
        decode: options.decode,
        resolve: resolve as (result: unknown) => void,
        reject,
        detach: undefined,
      };
      this.#outgoing.set(id, outgoing);
      if (signal !== undefined) outgoing.detach = this.#watch(id, signal, options.cancelAll);
      this.#writer.push(JSON.stringify({ jsonrpc: '2.0', id, method: method.name, params }), options.now);
    });
  }

  /** Sends a notification (also after the input closed, to report cells closing; never after close). */
  /** Sends a notification; `now`: it leaves at once, not with the rest of this turn's messages. */
  notify<M extends MethodSpec>(method: M, params: ParamsOf<M>, now?: boolean): void {
    if (this.#closed !== undefined) return; // a closed connection sends nothing more
    this.#writer.push(JSON.stringify({ jsonrpc: '2.0', method: method.name, params }), now);
  }

  /** Gives up the requests whose params match, unanswered and unannounced (what a session's shutdown left). */
  abandon(match: (params: unknown) => boolean, reason: unknown): void {
    for (const [id, outgoing] of this.#outgoing) if (match(outgoing.params)) this.#settle(id)?.reject(reason);
  }

  /** Resolves once everything sent so far left this process (or could not). */
  async flush(): Promise<void> {
    await this.#writer.written();
    await this.#carrier.flush();
  }

  /** Stops reading; every request out rejects with `error`, every request in aborts and is never answered. */
  close(error: Error): void {
    if (this.#closed !== undefined) return;
    this.#closed = error;
    this.#reading?.stop();
    for (const id of [...this.#outgoing.keys()]) this.#settle(id)?.reject(error);
    this.#incoming.abortAll(error);
  }

  /** Rejects the request when `signal` aborts (alone, or with its group); returns the remover. */
  #watch(id: RequestId, signal: AbortSignal, cancelAll: (() => void) | undefined): () => void {
    if (cancelAll === undefined) {
      const onAbort = (): void => {
        this.#settle(id)?.reject(signal.reason);
        this.#writer.push(JSON.stringify({ jsonrpc: '2.0', method: CANCEL_REQUEST, params: { id } }));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      return () => signal.removeEventListener('abort', onAbort);
    }
    let group = this.#groups.get(signal);
    if (group === undefined) {
      const ids = (group = new Set());
      this.#groups.set(signal, ids);
      // One listener per signal, for as long as the signal lives (a cell's callbacks share it).
      const onAbort = (): void => {
        if (ids.size === 0) return;
        // A cell's 100 calls at once: each forgotten and rejected here, the group cleared after.
        const reason: unknown = signal.reason;
        for (const member of ids) {
          const outgoing = this.#outgoing.get(member);
          if (outgoing === undefined) continue;
          this.#outgoing.delete(member);
          outgoing.reject(reason);
        }
        ids.clear();
        cancelAll();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }
    const members = group;
    members.add(id);
    return () => members.delete(id);
  }

  /** Forgets an outgoing request; what it was, if it was still waiting. */
  #settle(id: RequestId): Outgoing | undefined {
    const outgoing = this.#outgoing.get(id);
    if (outgoing === undefined) return undefined;
    this.#outgoing.delete(id);
    outgoing.detach?.();
    return outgoing;
  }

  #receive(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch (error) {
      return this.#refuse(null, JsonRpcErrors.parseError, `Parse error: ${messageOf(error)}`);
    }
    this.#heard?.();
    if (!isRecord(message) || message.jsonrpc !== '2.0') return this.#invalid(message);
    const { id, method } = message;
    if (typeof method === 'string') {
      if (id === undefined) return this.#notification(method, message.params);
      if (isId(id)) return this.#request(id, method, message.params);
    } else if ('result' in message || 'error' in message) {
      if (isId(id)) return this.#response(id, message);
      if (id === null) return this.#logger.warn(`codecell: the peer could not read a message: ${text.slice(0, 200)}`);
    }
    this.#invalid(message);
  }

  #invalid(message: unknown): void {
    const id = isRecord(message) && isId(message.id) ? message.id : null;
    this.#refuse(
      id,
      JsonRpcErrors.invalidRequest,
      'Invalid Request: not a JSON-RPC 2.0 request, notification or response',
    );
  }

  /** Answers a request that is not dispatched (its id, if in flight already, stays the original's). */
  #refuse(id: RequestId | null, code: number, message: string, data?: unknown): void {
    this.#writer.push(errorAnswerText(id, { code, message, data }));
  }

  #request(id: RequestId, method: string, params: unknown): void {
    if (this.#incoming.has(id))
      return this.#refuse(
        id,
        JsonRpcErrors.invalidRequest,
        `Invalid Request: request id ${JSON.stringify(id)} is already in flight`,
      );
    if (Array.isArray(params))
      return this.#refuse(
        id,
        JsonRpcErrors.invalidParams,
        `${method} takes its params by name (an object), not by position`,
      );
    const handler = this.#requestHandlers.get(method);
    if (handler === undefined) return this.#refuse(id, JsonRpcErrors.methodNotFound, `Unhandled method ${method}`);
    if (this.#incoming.size >= MAX_REQUESTS_IN_FLIGHT)
      return this.#refuse(
        id,
        JsonRpcErrors.limitExceeded,
        `${method} refused: ${MAX_REQUESTS_IN_FLIGHT} requests of this connection are already in flight`,
        { code: 'ERR_LIMIT_EXCEEDED' },
      );
    if (this.#closed !== undefined) return;
    const request = this.#incoming.open(id, method);
    let result: unknown;
    try {
      result = handler(params, request);
    } catch (error) {
      return this.#incoming.fail(request, toRpcError(error));
    }
    if (result instanceof Promise)
      result.then(
        (value: unknown) => this.#incoming.answer(request, value),
        (error: unknown) => this.#incoming.fail(request, toRpcError(error)),
      );
    else this.#incoming.answer(request, result);
  }

  #notification(method: string, params: unknown): void {
    if (method === CANCEL_REQUEST) return this.#incoming.cancel(isRecord(params) ? params.id : undefined);
    const handler = this.#notificationHandlers.get(method);
    if (handler === undefined) return; // a notification nobody handles is dropped (JSON-RPC)
    try {
      handler(params);
    } catch (error) {
      this.#logger.warn(`codecell: ignored ${method}: ${messageOf(error)}`);
    }
  }

  #response(id: RequestId, message: Record<string, unknown>): void {
    const outgoing = this.#settle(id);
    if (outgoing === undefined) return; // given up on: its answer is dropped
    const { decode } = outgoing;
    if (!('error' in message))
      return outgoing.resolve(decode === undefined ? message.result : decode.result(message.result, outgoing.params));
    const error = isRecord(message.error) ? message.error : {};
    const failure = new RpcError(
      typeof error.code === 'number' ? error.code : JsonRpcErrors.internalError,
      typeof error.message === 'string' ? error.message : 'the peer answered with an error',
      error.data,
    );
    outgoing.reject(decode === undefined ? failure : decode.error(failure));
  }
}
