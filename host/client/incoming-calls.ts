// The client's side of the delegate calls (tool/invoke, cell/notify): each call the host sends is
// served by its session's delegate (serve-call.ts), unless the host cancels it first — one cell/cancel for a
// cell's calls of one method: their delegates' signals abort and they are never answered (the
// engine forgets them). A cell's calls of one method share one AbortSignal; its groups are
// forgotten when the cell closes, a session's when it shuts down.
import { CodeCellError } from '../../src/index.js';
import { Deadline, type TraceMeta } from '../../src/internal.js';
import type { JsonText, WireError } from '../wire/messages.js';
import type {
  CellCancelParams,
  CellJournalPart,
  DelegateCallName,
  IncomingRequest,
  SessionId,
} from '../wire/protocol.js';

/** The wire methods of the delegate calls (the ones cell/cancel names). */
type DelegateMethod = CellCancelParams['method'];

/** One incoming call as the client's session serves it. */
export interface IncomingCall {
  readonly value: unknown;
  readonly signal: AbortSignal;
  /**
   * The delegate runs the call (`finished`: it settled): once its signal aborts, terminate and
   * shutdown wait for it (within the session's deadline), as they do in-process.
   */
  started(): void;
  finished(): void;
  /** False once its session shut down: nobody takes its outcome (no text, no ledger entry is made). */
  readonly wanted: boolean;
  /** Answers with the delegate's value, serialised and checked here. */
  answer(result: JsonText): void;
  /** Answers with an error; `kind` ('TypeError', 'RangeError') travels as `data.kind`. */
  fail(error: WireError): void;
  /** False once the call was answered or the host gave it up (nothing need be made for it). */
  readonly open: boolean;
}

/**
 * A delegate call from the host, waiting for its session's delegate; `journal`: the cell's journal
 * up to this call (a re-homing session's mirror, checked), which its session takes in first.
 */
export type InboundRequest = {
  name: DelegateCallName;
  call: IncomingCall;
  meta?: TraceMeta | undefined;
  journal?: CellJournalPart | undefined;
};

/**
 * A cell's calls of one method: one AbortController, the requests open, how many delegates run
 * (one promise for them all once aborted: a shutdown waits for 10 000 calls without a reaction
 * each), and whether its session shut down.
 */
interface CallGroup {
  readonly controller: AbortController;
  readonly requests: Set<IncomingRequest>;
  running: number;
  idle: PromiseWithResolvers<void> | undefined;
  ended: boolean;
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
    return this.#abort(sessionId, reason, true);
  }

  /**
   * The host is gone: every open call's signal aborts with `reason` (their outcomes still reach
   * the ledger, which lists the calls of the cells lost with it).
   */
  abortAll(reason: CodeCellError): void {
    for (const sessionId of [...this.#sessions.keys()]) void this.#abort(sessionId, reason, false);
  }

  /** `ended`: the session shut down, and nobody takes its calls' outcomes. */
  #abort(sessionId: SessionId, reason: CodeCellError, ended: boolean): Promise<unknown>[] {
    const cells = this.#sessions.get(sessionId);
    this.#sessions.delete(sessionId);
    const running: Promise<unknown>[] = [];
    for (const cell of cells?.values() ?? [])
      for (const group of Object.values(cell)) {
        group.ended = ended;
        for (const each of abortGroup(group, reason)) running.push(each);
      }
    return running;
  }

  #group(sessionId: SessionId, cellId: string, method: DelegateMethod): CallGroup {
    let cells = this.#sessions.get(sessionId);
    if (cells === undefined) this.#sessions.set(sessionId, (cells = new Map()));
    let cell = cells.get(cellId);
    if (cell === undefined) cells.set(cellId, (cell = {}));
    return (cell[method] ??= {
      controller: new AbortController(),
      requests: new Set(),
      running: 0,
      idle: undefined,
      ended: false,
    });
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
  /** Counted among its group's running delegates (it started before the group was aborted). */
  #counted = false;

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

  get wanted(): boolean {
    return !this.#group.ended;
  }

  started(): void {
    if (this.#group.controller.signal.aborted) return; // cancelled before it started: nobody waits
    this.#counted = true;
    this.#group.running++;
  }

  finished(): void {
    if (!this.#counted) return;
    this.#counted = false;
    const group = this.#group;
    if (--group.running === 0) group.idle?.resolve();
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
  }
}

/** Aborts the group's calls; returns what resolves once its delegates still running settled. */
function abortGroup(group: CallGroup, reason: CodeCellError): Promise<unknown>[] {
  for (const request of group.requests) request.forget();
  group.requests.clear();
  group.controller.abort(reason);
  if (group.running === 0) return [];
  group.idle ??= Promise.withResolvers<void>();
  return [group.idle.promise];
}

/** Resolves once every promise settled, or `deadlineMs` after now, whichever is first. */
export function settledWithin(running: Promise<unknown>[], deadlineMs: number): Promise<void> {
  if (running.length === 0) return Promise.resolve();
  const deadline = new Deadline(deadlineMs);
  return Promise.race([Promise.allSettled(running), deadline.reached]).then(() => deadline.clear());
}
