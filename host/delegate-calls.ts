// The delegate calls of protocol v2 (tool/invoke, cell/notify), host → client, kept outside
// vscode-jsonrpc so that a call given up on leaves nothing behind on either side: the host
// forgets it at once and sends one cell/cancel for all the cell's calls of that method; the
// client aborts their delegates' signals and never answers them.
import { CodeCellError } from '../src/index.js';
import { errorOfKind, toJsonText } from '../src/internal.js';
import { Methods, type CellCancelParams, type DelegateCall, type SessionId } from './protocol.js';

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
  resolve(result: unknown): void;
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
      this.#pending.set(id, { group: joined, resolve, reject });
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
    if (error !== undefined) call.reject(errorOfKind(error.data?.kind, typeof error.message === 'string' ? error.message : 'the delegate failed'));
    else call.resolve(message.result);
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
    this.#send({ method: Methods.cellCancel.name, params: { sessionId: group.sessionId, cellId: group.cellId, method: group.method } });
  }
}

/** One incoming call as the client's session serves it. */
export interface IncomingCall {
  readonly id: string | number;
  readonly method: DelegateMethod;
  readonly value: unknown;
  readonly signal: AbortSignal;
  /**
   * The delegate's promise for this call: once its signal aborts, terminate and shutdown wait
   * for it (within the session's deadline), as they do in-process.
   */
  running(settled: Promise<unknown>): void;
  /** Sends the result; throws, answering nothing yet, when it is not JSON (toJsonText's rules). */
  answer(result: unknown): void;
  /** Answers with an error; `kind` ('TypeError', 'RangeError') travels as `data.kind`. */
  fail(code: number, message: string, kind?: string): void;
}

interface IncomingGroup {
  readonly controller: AbortController;
  readonly ids: Set<string | number>;
  /** The delegates' promises of the group's calls still running. */
  readonly running: Set<Promise<unknown>>;
}

/**
 * The client's side: the cell's calls of one method share one AbortController. Aborting a group
 * returns its delegates' promises still running, for whoever waits for them under a deadline.
 */
export class IncomingCalls {
  readonly #send: (message: object | string) => void;
  readonly #groups = new Map<string, IncomingGroup>();

  constructor(send: (message: object | string) => void) {
    this.#send = send;
  }

  /** Registers a call from the host; its answer is written unless the host cancelled it first. */
  open(id: string | number, method: DelegateMethod, sessionId: SessionId, cellId: string, value: unknown): IncomingCall {
    const key = groupKey(sessionId, cellId, method);
    let group = this.#groups.get(key);
    if (group === undefined) {
      group = { controller: new AbortController(), ids: new Set(), running: new Set() };
      this.#groups.set(key, group);
    }
    const live = group;
    live.ids.add(id);
    const finish = (message: () => object | string): void => {
      if (!live.ids.has(id)) return; // cancelled: the host forgot it, so no answer
      this.#send(message());
      live.ids.delete(id);
      if (live.ids.size === 0 && this.#groups.get(key) === live) this.#groups.delete(key);
    };
    return {
      id,
      method,
      value,
      signal: live.controller.signal,
      running: (settled) => {
        if (live.controller.signal.aborted) return; // cancelled before it started: nobody waits
        live.running.add(settled);
        const done = (): void => void live.running.delete(settled);
        settled.then(done, done);
      },
      // The result is serialised once, straight into the answer's text.
      answer: (result) => finish(() => `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${toJsonText(result)}}`),
      fail: (code, message, kind) => finish(() => ({ id, error: { code, message, ...(kind === undefined || kind === '' ? {} : { data: { kind } }) } })),
    };
  }

  /**
   * cell/cancel: aborts the signal of every open call of the method for the cell; returns the
   * delegates' promises still running.
   */
  cancel(sessionId: SessionId, cellId: string, method: DelegateMethod): Promise<unknown>[] {
    const key = groupKey(sessionId, cellId, method);
    const group = this.#groups.get(key);
    if (group === undefined) return [];
    this.#groups.delete(key);
    return abortGroup(group, new CodeCellError('ERR_CANCELLED', `codecell-host cancelled the ${method} calls of cell ${cellId}`));
  }

  /**
   * The session is shutting down: every open call of it aborts, and none will be answered;
   * returns the delegates' promises still running.
   */
  abortSession(sessionId: SessionId, reason: CodeCellError): Promise<unknown>[] {
    const prefix = `${sessionId}\u0000`;
    const running: Promise<unknown>[] = [];
    for (const [key, group] of this.#groups) {
      if (!key.startsWith(prefix)) continue;
      this.#groups.delete(key);
      running.push(...abortGroup(group, reason));
    }
    return running;
  }

  /** The host is gone: every open call's signal aborts with `reason`. */
  abortAll(reason: CodeCellError): void {
    for (const group of this.#groups.values()) abortGroup(group, reason);
    this.#groups.clear();
  }
}

function abortGroup(group: IncomingGroup, reason: CodeCellError): Promise<unknown>[] {
  group.ids.clear();
  const running = [...group.running];
  group.running.clear();
  group.controller.abort(reason);
  return running;
}

function groupKey(sessionId: SessionId, cellId: string, method: DelegateMethod): string {
  return `${sessionId}\u0000${cellId}\u0000${method}`;
}
