// What of the peer's input reaches vscode-jsonrpc's dispatcher, and how much of it may wait there.
// Text that is not JSON gets a -32700 answer, JSON that is not a JSON-RPC message a -32600 one; a
// request with params by position, with an id already in flight, or past MAX_REQUESTS_IN_FLIGHT
// is refused at once; a `$/cancelRequest` that can do nothing is dropped. Messages read and not yet
// dispatched are bounded: at MAX_UNDISPATCHED_MESSAGES the peer's input is paused (the peer feels
// backpressure) until half of them were dispatched, so a peer that floods never grows the host.
import type { Message } from 'vscode-jsonrpc/node.js';
import { messageOf } from '../../src/internal.js';
import type { PausableReader } from './carrier.js';
import { JsonRpcErrors } from './protocol.js';

/** Messages of the peer read and not yet dispatched (vscode-jsonrpc handles one per turn of the loop). */
export const MAX_UNDISPATCHED_MESSAGES = 1_024;
/** The peer's requests dispatched and not yet answered, at most; past it a request is refused. */
export const MAX_REQUESTS_IN_FLIGHT = 16_384;

const CANCEL_METHOD = '$/cancelRequest';

/** Writes an error answer (past the hook that frees answered ids: see Inbound.answered). */
export type Answer = (id: string | number | null, code: number, message: string, data?: unknown) => void;

/**
 * Takes a valid incoming message before vscode-jsonrpc sees it; true when it was handled. The
 * delegate calls travel this way, so no map in vscode-jsonrpc ever holds a call given up on.
 */
export type Interceptor = (message: Record<string, unknown>) => boolean;

interface Refusal {
  code: number;
  message: string;
  data?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A cancellation notification (a request of that name is answered as any other). */
const isCancel = (message: unknown): boolean =>
  (message as { method?: unknown }).method === CANCEL_METHOD && (message as { id?: unknown }).id === undefined;

/** One connection's inbound side: the peer's requests in flight and the messages waiting for dispatch. */
export class Inbound {
  /** Ids of the peer's requests not answered yet (a second request with one of them is refused). */
  readonly #inFlight = new Set<string | number>();
  /** Those of them the peer cancelled. */
  readonly #cancelled = new Set<string | number>();
  /** Messages handed to vscode-jsonrpc and not yet dispatched (cancellations aside: they queue only per request). */
  #undispatched = 0;
  #paused = false;
  readonly #intercept: Interceptor | undefined;
  readonly #answer: Answer;
  /** Set once the reader exists (it is made with this object's admit). */
  reader: PausableReader | undefined;

  constructor(intercept: Interceptor | undefined, answer: Answer) {
    this.#intercept = intercept;
    this.#answer = answer;
  }

  /** What vscode-jsonrpc gets of one message text: the message, or nothing (taken, dropped or answered here). */
  admit(text: string): Message | undefined {
    const message = this.#decode(text);
    if (message === undefined || isCancel(message)) return message;
    if (++this.#undispatched >= MAX_UNDISPATCHED_MESSAGES && !this.#paused) {
      this.#paused = true;
      this.reader?.pause();
    }
    return message;
  }

  /** vscode-jsonrpc dispatches a message (its message strategy): the input resumes once half the backlog is gone. */
  dispatched(message: Message): void {
    if (!isCancel(message)) this.#undispatched--;
    if (this.#paused && this.#undispatched <= MAX_UNDISPATCHED_MESSAGES / 2) {
      this.#paused = false;
      this.reader?.resume();
    }
  }

  /** An answer to the peer's request left: its id may be used again. */
  answered(id: unknown): void {
    if (typeof id !== 'string' && typeof id !== 'number') return;
    this.#inFlight.delete(id);
    this.#cancelled.delete(id);
  }

  #decode(text: string): Message | undefined {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch (error) {
      this.#answer(null, JsonRpcErrors.parseError, `Parse error: ${messageOf(error)}`);
      return undefined;
    }
    if (!isValidMessage(message)) {
      const id =
        isRecord(message) && (typeof message.id === 'string' || typeof message.id === 'number') ? message.id : null;
      this.#answer(
        id,
        JsonRpcErrors.invalidRequest,
        'Invalid Request: not a JSON-RPC 2.0 request, notification or response',
      );
      return undefined;
    }
    if (this.#intercept?.(message) === true || !this.#usefulCancel(message)) return undefined;
    const refusal = this.#refusal(message);
    if (refusal === undefined) return message as unknown as Message;
    this.#answer(message.id as string | number, refusal.code, refusal.message, refusal.data);
    return undefined;
  }

  /** False for a cancellation that can do nothing: its request is not in flight, or was cancelled already. */
  #usefulCancel(message: Record<string, unknown>): boolean {
    if (!isCancel(message)) return true;
    const id = isRecord(message.params) ? message.params.id : undefined;
    if ((typeof id !== 'string' && typeof id !== 'number') || !this.#inFlight.has(id) || this.#cancelled.has(id))
      return false;
    this.#cancelled.add(id);
    return true;
  }

  /**
   * Why a request is answered at once with an error instead of dispatched: params by position (the
   * methods take named params), an id already in flight (one answer per id), too many in flight.
   */
  #refusal({ id, method, params }: Record<string, unknown>): Refusal | undefined {
    if (typeof method !== 'string' || (typeof id !== 'string' && typeof id !== 'number')) return undefined;
    if (Array.isArray(params))
      return {
        code: JsonRpcErrors.invalidParams,
        message: `${method} takes its params by name (an object), not by position`,
      };
    if (this.#inFlight.has(id))
      return {
        code: JsonRpcErrors.invalidRequest,
        message: `Invalid Request: request id ${JSON.stringify(id)} is already in flight`,
      };
    if (this.#inFlight.size >= MAX_REQUESTS_IN_FLIGHT)
      return {
        code: JsonRpcErrors.limitExceeded,
        message: `${method} refused: ${MAX_REQUESTS_IN_FLIGHT} requests of this connection are already in flight`,
        data: { code: 'ERR_LIMIT_EXCEEDED' },
      };
    this.#inFlight.add(id);
    return undefined;
  }
}

function isValidMessage(message: unknown): message is Record<string, unknown> {
  if (!isRecord(message) || message.jsonrpc !== '2.0') return false;
  const { id, method } = message;
  const validId = id === undefined || id === null || typeof id === 'string' || typeof id === 'number';
  if (!validId) return false;
  // A request's id is a string or a number; null is for answers only (it is answered -32600).
  if (method !== undefined) return typeof method === 'string' && id !== null;
  return id !== undefined && ('result' in message || 'error' in message);
}
