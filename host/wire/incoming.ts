// The peer's requests a connection serves (rpc.ts): each answered exactly once — with its result,
// its error, or -32800 when the peer cancels it — or forgotten unanswered when the peer gave it up
// another way (cell/cancel). Its id is free again once it was answered.
import { CodeCellError } from '../../src/index.js';
import { messageOf } from '../../src/internal.js';
import { errorAnswerText, ErrorAnswer, JsonText, type RequestId, type WireError } from './messages.js';
import { JsonRpcErrors, type IncomingRequest } from './protocol.js';

/** One request being served. */
class Incoming implements IncomingRequest {
  readonly id: RequestId;
  readonly method: string;
  readonly #owner: IncomingRequests;
  /** Made on first use of the signal (most requests never look at it). */
  #controller: AbortController | undefined;
  #abortedWith: { reason: unknown } | undefined;
  open = true;

  constructor(id: RequestId, method: string, owner: IncomingRequests) {
    this.id = id;
    this.method = method;
    this.#owner = owner;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#abortedWith !== undefined) this.#controller.abort(this.#abortedWith.reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    this.#abortedWith ??= { reason };
    this.#controller?.abort(reason);
  }

  forget(): void {
    this.#owner.close(this);
  }
}

export class IncomingRequests {
  readonly #open = new Map<RequestId, Incoming>();
  readonly #send: (text: string) => void;

  /** `send`: writes one whole message's text. */
  constructor(send: (text: string) => void) {
    this.#send = send;
  }

  get size(): number {
    return this.#open.size;
  }

  has(id: RequestId): boolean {
    return this.#open.has(id);
  }

  open(id: RequestId, method: string): Incoming {
    const request = new Incoming(id, method, this);
    this.#open.set(id, request);
    return request;
  }

  /** Takes the request out of those waiting for an answer; false if it was not waiting any more. */
  close(request: Incoming): boolean {
    if (!request.open) return false;
    request.open = false;
    this.#open.delete(request.id);
    return true;
  }

  /** Answers with the handler's result (a JsonText as is; nothing is null). */
  answer(request: Incoming, value: unknown): void {
    let text: string | undefined;
    try {
      text = value instanceof JsonText ? value.text : JSON.stringify(value ?? null);
    } catch (error) {
      return this.fail(request, new ErrorAnswer(JsonRpcErrors.internalError, `internal error: ${messageOf(error)}`));
    }
    if (text === undefined)
      return this.fail(request, new ErrorAnswer(JsonRpcErrors.internalError, 'internal error: the result is not JSON'));
    if (this.close(request)) this.#send(`{"jsonrpc":"2.0","id":${JSON.stringify(request.id)},"result":${text}}`);
  }

  fail(request: Incoming, error: WireError): void {
    if (!this.close(request)) return;
    this.#send(errorAnswerText(request.id, error));
  }

  /** `$/cancelRequest`: the handler's signal aborts and the request is answered -32800 at once. */
  cancel(id: unknown): void {
    const request = typeof id === 'string' || typeof id === 'number' ? this.#open.get(id) : undefined;
    if (request === undefined) return; // answered already, or never asked: nothing to do
    request.abort(new CodeCellError('ERR_CANCELLED', `the peer cancelled ${request.method}`));
    this.fail(request, new ErrorAnswer(JsonRpcErrors.requestCancelled, `${request.method} was cancelled`));
  }

  /** The connection closed: every request's signal aborts, and none is answered. */
  abortAll(reason: unknown): void {
    for (const request of [...this.#open.values()]) {
      this.close(request);
      request.abort(reason);
    }
  }
}

export type { Incoming };
