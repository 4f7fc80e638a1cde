// The client's side of the delegate calls of protocol v2 (tool/invoke, cell/notify): each call
// the host sends is served by its session's delegate, unless the host cancels it first (one
// cell/cancel for a cell's calls of one method): its delegates' signals abort and it is never
// answered (the host's side is host/server/outgoing-calls.ts).
import { CodeCellError, toolIdentifier, type SessionRuntimeDelegate } from '../../src/index.js';
import { Deadline, errorKindOf, messageOf, toJsonText, toolErrorText } from '../../src/internal.js';
import {
  DelegateCalls,
  JsonRpcErrors,
  type CellCancelParams,
  type DelegateCall,
  type DelegateCallName,
  type SessionId,
} from '../wire/protocol.js';

/**
 * The most of a delegate's error text the client sends (the host cuts it again to the session's
 * maxToolErrorBytes, 64 KiB by default): a 100 MB message never crosses the wire.
 */
const MAX_WIRE_ERROR_BYTES = 4 * 1024 * 1024;

/** Groups kept with no open call before the emptied ones are swept (see IncomingCalls.open). */
const MAX_IDLE_GROUPS = 256;

/** The wire methods of the delegate calls (the ones cell/cancel names). */
type DelegateMethod = CellCancelParams['method'];

/** One incoming call as the client's session serves it. */
export interface IncomingCall {
  readonly id: string | number;
  readonly method: DelegateMethod;
  readonly value: unknown;
  readonly signal: AbortSignal;
  /**
   * The delegate's promise for this call: once its signal aborts, terminate and shutdown wait
   * for it (within the session's deadline), as they do in-process, until `answer` or `fail`,
   * called once it settled.
   */
  running(settled: Promise<unknown>): void;
  /** Sends the result; throws, answering nothing yet, when it is not JSON (toJsonText's rules). */
  answer(result: unknown): void;
  /** Answers with an error; `kind` ('TypeError', 'RangeError') travels as `data.kind`. */
  fail(code: number, message: string, kind?: string): void;
}

/** A delegate call from the host, waiting for its session's delegate. */
export type InboundRequest = { name: DelegateCallName; call: IncomingCall };

type ToolRef = Parameters<typeof toolIdentifier>[0];

/** Serves a host call with the session's delegate; the host's cell/cancel aborts its signal. */
export function serveDelegateCall(delegate: SessionRuntimeDelegate, { name, call }: InboundRequest): void {
  // The table pairs each name with the delegate method of that name and its argument.
  const method = delegate[name] as (value: unknown, signal: AbortSignal) => unknown;
  const row: DelegateCall = DelegateCalls[name];
  const settled = Promise.resolve().then(() => method.call(delegate, call.value, call.signal));
  call.running(settled);
  settled.then(
    (value) => {
      try {
        call.answer(row.answer(value as never));
      } catch (error) {
        // What cannot cross as JSON fails the call here, as in-process, instead of the answer.
        const tool = (call.value as { tool?: ToolRef } | undefined)?.tool;
        const subject =
          name === 'invokeTool' && tool !== undefined ? `tools.${toolIdentifier(tool)}` : `delegate.${name}`;
        call.fail(JsonRpcErrors.delegateFailed, `${subject} returned a value that is not JSON: ${messageOf(error)}`);
      }
    },
    (error: unknown) =>
      call.fail(JsonRpcErrors.delegateFailed, toolErrorText(error, MAX_WIRE_ERROR_BYTES), errorKindOf(error)),
  );
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
  /** The number of groups past which emptied ones are swept. */
  #sweepAt = MAX_IDLE_GROUPS;

  constructor(send: (message: object | string) => void) {
    this.#send = send;
  }

  /** Registers a call from the host; its answer is written unless the host cancelled it first. */
  open(
    id: string | number,
    method: DelegateMethod,
    sessionId: SessionId,
    cellId: string,
    value: unknown,
  ): IncomingCall {
    const key = groupKey(sessionId, cellId, method);
    let group = this.#groups.get(key);
    if (group === undefined) {
      group = { controller: new AbortController(), ids: new Set(), running: new Set() };
      this.#groups.set(key, group);
    }
    const live = group;
    live.ids.add(id);
    /** The delegate's promise, while it runs (see running). */
    let started: Promise<unknown> | undefined;
    const finish = (message: () => object | string): void => {
      if (!live.ids.has(id)) return; // cancelled: the host forgot it, so no answer
      this.#send(message());
      live.ids.delete(id);
      // Its answer is sent once the delegate settled: nobody need wait for it any more.
      if (started !== undefined) live.running.delete(started);
      // An emptied group stays for the cell's next call (one AbortController per cell and method,
      // not per call); emptied groups are swept once there are many (their cells have ended).
      if (live.ids.size === 0 && this.#groups.size > this.#sweepAt) this.#sweep();
    };
    return {
      id,
      method,
      value,
      signal: live.controller.signal,
      running: (settled) => {
        if (live.controller.signal.aborted) return; // cancelled before it started: nobody waits
        started = settled;
        live.running.add(settled);
      },
      // The result is serialised once, straight into the answer's text.
      answer: (result) => finish(() => `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${toJsonText(result)}}`),
      fail: (code, message, kind) =>
        finish(() => ({
          id,
          error: { code, message, ...(kind === undefined || kind === '' ? {} : { data: { kind } }) },
        })),
    };
  }

  /** How many groups are kept (open calls, running delegates, or emptied and not swept yet). */
  get groups(): number {
    return this.#groups.size;
  }

  /** Forgets the groups with no open call and no delegate still running. */
  #sweep(): void {
    for (const [key, group] of this.#groups)
      if (group.ids.size === 0 && group.running.size === 0) this.#groups.delete(key);
    // Many groups still busy: the next sweep waits for twice as many (amortised, never quadratic).
    this.#sweepAt = Math.max(MAX_IDLE_GROUPS, 2 * this.#groups.size);
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
    return abortGroup(
      group,
      new CodeCellError('ERR_CANCELLED', `codecell-host cancelled the ${method} calls of cell ${cellId}`),
    );
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

/** Resolves once every promise settled, or `deadlineMs` after now, whichever is first. */
export function settledWithin(running: Promise<unknown>[], deadlineMs: number): Promise<void> {
  if (running.length === 0) return Promise.resolve();
  const deadline = new Deadline(deadlineMs);
  return Promise.race([Promise.allSettled(running), deadline.reached]).then(() => deadline.clear());
}
