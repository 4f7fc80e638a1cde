// The client's side of the delegate calls (tool/invoke, cell/notify): each call the host sends is
// served by its session's delegate, unless the host cancels it first — one cell/cancel for a
// cell's calls of one method: their delegates' signals abort and they are never answered (the
// engine forgets them). A cell's calls of one method share one AbortSignal; its groups are
// forgotten when the cell closes, a session's when it shuts down.
import { CodeCellError, toolIdentifier, type SessionRuntimeDelegate, type ToolCallRecord } from '../../src/index.js';
import {
  Deadline,
  errorKindOf,
  isCellInterrupt,
  messageOf,
  toJsonText,
  toolErrorText,
  withTraceMeta,
  type TraceMeta,
} from '../../src/internal.js';
import { ErrorAnswer, JsonText, type WireError } from '../wire/messages.js';
import {
  DelegateCalls,
  JsonRpcErrors,
  type CellCancelParams,
  type DelegateCall,
  type DelegateCallName,
  type IncomingRequest,
  type SessionId,
} from '../wire/protocol.js';

/**
 * The most of a delegate's error text the client sends (the host cuts it again to the session's
 * maxToolErrorBytes, 64 KiB by default): a 100 MB message never crosses the wire.
 */
const MAX_WIRE_ERROR_BYTES = 4 * 1024 * 1024;

/** What tool/invoke's answer wraps its value in: `{"value":…}`. */
const VALUE_ENVELOPE_BYTES = '{"value":}'.length;

/** The wire methods of the delegate calls (the ones cell/cancel names). */
type DelegateMethod = CellCancelParams['method'];

/** One incoming call as the client's session serves it. */
export interface IncomingCall {
  readonly value: unknown;
  readonly signal: AbortSignal;
  /**
   * The delegate's promise for this call: once its signal aborts, terminate and shutdown wait
   * for it (within the session's deadline), as they do in-process.
   */
  running(settled: Promise<unknown>): void;
  /** Answers with the delegate's value, serialised and checked here. */
  answer(result: JsonText): void;
  /** Answers with an error; `kind` ('TypeError', 'RangeError') travels as `data.kind`. */
  fail(error: WireError): void;
  /** False once the call was answered or the host gave it up (nothing need be made for it). */
  readonly open: boolean;
}

/** A delegate call from the host, waiting for its session's delegate. */
export type InboundRequest = { name: DelegateCallName; call: IncomingCall; meta?: TraceMeta | undefined };

type ToolRef = Parameters<typeof toolIdentifier>[0];

/**
 * The largest tool result (bytes of its JSON text) a call may answer with, and what sets it (the
 * cell's maxToolResultBytes, or the host's message bound): a larger one fails the call here, so
 * it never reaches the host (a message past its bound would cost the whole connection).
 */
export interface ResultBound {
  bytes: number;
  what: string;
}

/**
 * Serves a host call with the session's delegate; the host's cell/cancel aborts its signal.
 * `record`, if given, learns whether the delegate returned or threw.
 */
export function serveDelegateCall(
  delegate: SessionRuntimeDelegate,
  { name, call, meta }: InboundRequest,
  bound?: ResultBound,
  record?: Pick<ToolCallRecord, 'outcome'>,
): void {
  // The table pairs each name with the delegate method of that name and its argument.
  const method = delegate[name] as (value: unknown, signal: AbortSignal) => unknown;
  const row: DelegateCall = DelegateCalls[name];
  const settled = Promise.resolve().then(() =>
    meta === undefined
      ? method.call(delegate, call.value, call.signal)
      : withTraceMeta(meta, () => method.call(delegate, call.value, call.signal)),
  );
  call.running(settled);
  settled.then(
    (value) => {
      if (record !== undefined) record.outcome = 'returned';
      let text: string;
      try {
        // The result is serialised once, checked, straight into the answer's text.
        text = toJsonText(row.answer(value as never));
      } catch (error) {
        // What cannot cross as JSON fails the call here, as in-process, instead of the answer.
        const message = `${subjectOf(name, call)} returned a value that is not JSON: ${messageOf(error)}`;
        return call.fail(new ErrorAnswer(JsonRpcErrors.delegateFailed, message));
      }
      // Each UTF-8 byte is at most one UTF-16 unit, and each unit at most 3 bytes: measured only
      // when the length alone cannot tell. The size is the value's, as in-process.
      if (bound !== undefined && name === 'invokeTool' && text.length * 3 > bound.bytes) {
        const size = Buffer.byteLength(text, 'utf8') - VALUE_ENVELOPE_BYTES;
        if (size > bound.bytes) {
          const message = `${subjectOf(name, call)} result is ${size} bytes, over ${bound.what}`;
          return call.fail(new ErrorAnswer(JsonRpcErrors.delegateFailed, message));
        }
      }
      call.answer(new JsonText(text));
    },
    (error: unknown) => {
      const interrupt = isCellInterrupt(error) ? interruptPayload(error.payload) : undefined;
      // A paused call is answered later, by resumeCell: it is still pending.
      if (record !== undefined && interrupt === undefined) record.outcome = 'threw';
      if (!call.open) return; // given up by the host (cell/cancel, shutdown): no answer to make
      const kind = errorKindOf(error);
      const message = toolErrorText(error, MAX_WIRE_ERROR_BYTES);
      const data = interrupt !== undefined ? { interrupt } : kind === '' ? undefined : { kind };
      call.fail(new ErrorAnswer(JsonRpcErrors.delegateFailed, message, data));
    },
  );
}

/** A CellInterrupt's payload as it crosses (a JSON text), or undefined when it is not JSON. */
function interruptPayload(payload: unknown): string | undefined {
  try {
    return toJsonText(payload) || 'null';
  } catch {
    return undefined;
  }
}

/** What the cell calls the delegate method by: `tools.<identifier>`, or `delegate.<method>`. */
function subjectOf(name: DelegateCallName, call: IncomingCall): string {
  const tool = (call.value as { tool?: ToolRef } | undefined)?.tool;
  return name === 'invokeTool' && tool !== undefined ? `tools.${toolIdentifier(tool)}` : `delegate.${name}`;
}

/** A cell's calls of one method: one AbortController, the requests open, the delegates running. */
interface CallGroup {
  readonly controller: AbortController;
  readonly requests: Set<IncomingRequest>;
  readonly running: Set<Promise<unknown>>;
}

type CellCalls = Partial<Record<DelegateMethod, CallGroup>>;

/**
 * The client's calls by session, cell and method. Aborting a group returns its delegates'
 * promises still running, for whoever waits for them under a deadline.
 */
export class IncomingCalls {
  readonly #sessions = new Map<SessionId, Map<string, CellCalls>>();

  /** Registers a call from the host; `settle` answers it (once; nothing after a cancel). */
  open(
    request: IncomingRequest,
    method: DelegateMethod,
    where: { sessionId: SessionId; cellId: string },
    value: unknown,
    settle: Settle,
  ): IncomingCall {
    const group = this.#group(where.sessionId, where.cellId, method);
    group.requests.add(request);
    return new GroupCall(request, group, value, settle);
  }

  /** How many cells have calls groups kept (open calls, or calls since the cell started). */
  get cells(): number {
    let count = 0;
    for (const cells of this.#sessions.values()) count += cells.size;
    return count;
  }

  /**
   * cell/cancel: aborts the signal of every open call of the method for the cell (they are never
   * answered); returns the delegates' promises still running.
   */
  cancel(sessionId: SessionId, cellId: string, method: DelegateMethod): Promise<unknown>[] {
    const cell = this.#sessions.get(sessionId)?.get(cellId);
    const group = cell?.[method];
    if (cell === undefined || group === undefined) return [];
    delete cell[method];
    return abortGroup(
      group,
      new CodeCellError('ERR_CANCELLED', `codecell-host cancelled the ${method} calls of cell ${cellId}`),
    );
  }

  /** The cell closed (cell/closed): its calls ended, so its groups go. */
  cellClosed(sessionId: SessionId, cellId: string): void {
    const cells = this.#sessions.get(sessionId);
    cells?.delete(cellId);
    if (cells?.size === 0) this.#sessions.delete(sessionId);
  }

  /**
   * The session is shutting down: every open call of it aborts, and none will be answered;
   * returns the delegates' promises still running.
   */
  abortSession(sessionId: SessionId, reason: CodeCellError): Promise<unknown>[] {
    const cells = this.#sessions.get(sessionId);
    this.#sessions.delete(sessionId);
    const running: Promise<unknown>[] = [];
    for (const cell of cells?.values() ?? [])
      for (const group of Object.values(cell)) running.push(...abortGroup(group, reason));
    return running;
  }

  /** The host is gone: every open call's signal aborts with `reason`. */
  abortAll(reason: CodeCellError): void {
    for (const sessionId of [...this.#sessions.keys()]) void this.abortSession(sessionId, reason);
  }

  #group(sessionId: SessionId, cellId: string, method: DelegateMethod): CallGroup {
    let cells = this.#sessions.get(sessionId);
    if (cells === undefined) this.#sessions.set(sessionId, (cells = new Map()));
    let cell = cells.get(cellId);
    if (cell === undefined) cells.set(cellId, (cell = {}));
    return (cell[method] ??= { controller: new AbortController(), requests: new Set(), running: new Set() });
  }
}

/** How a call is answered on the wire (once; nothing after a cancel). */
interface Settle {
  answer(result: JsonText): void;
  fail(error: WireError): void;
}

/** A call of a group: it leaves the group when it is answered. */
class GroupCall implements IncomingCall {
  readonly value: unknown;
  readonly #request: IncomingRequest;
  readonly #group: CallGroup;
  readonly #settle: Settle;
  #started: Promise<unknown> | undefined;

  constructor(request: IncomingRequest, group: CallGroup, value: unknown, settle: Settle) {
    this.value = value;
    this.#request = request;
    this.#group = group;
    this.#settle = settle;
  }

  get open(): boolean {
    return this.#request.open;
  }

  get signal(): AbortSignal {
    return this.#group.controller.signal;
  }

  running(settled: Promise<unknown>): void {
    if (this.#group.controller.signal.aborted) return; // cancelled before it started: nobody waits
    this.#started = settled;
    this.#group.running.add(settled);
  }

  answer(result: JsonText): void {
    this.#finish();
    this.#settle.answer(result);
  }

  fail(error: WireError): void {
    this.#finish();
    this.#settle.fail(error);
  }

  #finish(): void {
    this.#group.requests.delete(this.#request);
    if (this.#started !== undefined) this.#group.running.delete(this.#started);
  }
}

function abortGroup(group: CallGroup, reason: CodeCellError): Promise<unknown>[] {
  for (const request of group.requests) request.forget();
  group.requests.clear();
  const running = [...group.running];
  group.running.clear();
  group.controller.abort(reason);
  return running;
}

/** Resolves once every promise settled, or `deadlineMs` after now, whichever is first. */
export function settledWithin(running: Promise<unknown>[], deadlineMs: number): Promise<void> {
  if (running.length === 0) return Promise.resolve();
  const deadline = new Deadline(deadlineMs);
  return Promise.race([Promise.allSettled(running), deadline.reached]).then(() => deadline.clear());
}
