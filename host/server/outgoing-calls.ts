// The host's side of the delegate calls of protocol v2 (tool/invoke, cell/notify), host →
// client, kept outside vscode-jsonrpc so that a call given up on leaves nothing behind: the host
// forgets it at once and sends one cell/cancel for all the cell's calls of that method (the
// client's side is host/client/incoming-calls.ts).
import { CodeCellError } from '../../src/index.js';
import { errorOfKind, fromParsedJson } from '../../src/internal.js';
import { Methods, type CellCancelParams, type DelegateCall, type SessionId } from '../wire/protocol.js';

/** The wire methods of the delegate calls (the ones cell/cancel names). */
type DelegateMethod = CellCancelParams['method'];

interface CallGroup {
  readonly sessionId: SessionId;
  readonly cellId: string;
  readonly method: DelegateMethod;
  readonly ids: Set<string>;
}

interface Outgoing {
  readonly group: CallGroup;
  /** The delegate call's row: its value is read from the answer here (no promise hop after). */
  readonly row: DelegateCall;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** The host's side: requests out with ids of its own, answers in through the interceptor. */
export class OutgoingCalls {
  readonly #send: (message: object) => void;
  readonly #pending = new Map<string, Outgoing>();
  /** One group per AbortSignal: a cell's calls of one kind share their signal (CallbackSet). */
  readonly #groups = new WeakMap<AbortSignal, CallGroup>();
  #seq = 0;

  constructor(send: (message: object) => void) {
    this.#send = send;
  }

  /**
   * Sends one delegate call; resolves with the delegate's value (`call.value` of the answer), or
   * rejects with the delegate's error (of its kind: errorOfKind), the signal's reason once it
   * aborts, or the reason the session or connection ended (a CodeCellError).
   */
  call(call: DelegateCall, sessionId: SessionId, value: { cellId: string }, signal: AbortSignal): Promise<unknown> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const method = call.method.name as DelegateMethod;
    let group = this.#groups.get(signal);
    if (group === undefined) {
      const created: CallGroup = { sessionId, cellId: value.cellId, method, ids: new Set() };
      group = created;
      this.#groups.set(signal, created);
      signal.addEventListener('abort', () => this.#cancel(created, signal.reason), { once: true });
    }
    const id = `cc-${++this.#seq}`;
    const joined = group;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { group: joined, row: call, resolve, reject });
      joined.ids.add(id);
      this.#send({ id, method, params: { sessionId, [call.arg]: value } });
    });
  }

  /** Takes the client's answer to one of these calls; false for any other message. */
  answer(message: Record<string, unknown>): boolean {
    const { id } = message;
    if (typeof id !== 'string' || 'method' in message) return false;
    const call = this.#pending.get(id);
    if (call === undefined) return id.startsWith('cc-');
    this.#pending.delete(id);
    call.group.ids.delete(id);
    const error = message.error as { message?: unknown; data?: { kind?: unknown } } | undefined;
    // The delegate's TypeError (e.g. a tool input check) reaches the cell as a TypeError.
    if (error !== undefined)
      call.reject(
        errorOfKind(error.data?.kind, typeof error.message === 'string' ? error.message : 'the delegate failed'),
      );
    // The value comes from the answer's JSON.parse: the cell's delivery need not check it again.
    else call.resolve(fromParsedJson(call.row.value(message.result)));
    return true;
  }

  /**
   * The session is being shut down: its calls fail with `reason`, and no cell/cancel is sent for
   * them (the client aborts a shutting-down session's calls itself).
   */
  forgetSession(sessionId: SessionId, reason: CodeCellError): void {
    for (const [id, call] of this.#pending) {
      if (call.group.sessionId !== sessionId) continue;
      this.#pending.delete(id);
      call.group.ids.delete(id);
      call.reject(reason);
    }
  }

  /** The connection is gone: every call fails. */
  failAll(error: CodeCellError): void {
    for (const call of this.#pending.values()) call.reject(error);
    this.#pending.clear();
  }

  #cancel(group: CallGroup, reason: unknown): void {
    if (group.ids.size === 0) return;
    for (const id of group.ids) {
      this.#pending.get(id)?.reject(reason);
      this.#pending.delete(id);
    }
    group.ids.clear();
    this.#send({
      method: Methods.cellCancel.name,
      params: { sessionId: group.sessionId, cellId: group.cellId, method: group.method },
    });
  }
}
