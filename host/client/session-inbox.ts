// What a remote session's host sends it, taken in (SPEC §8, §13): delegate calls served by the
// session's delegate on its ledger — a tool call recorded before the delegate runs, what it did and
// what the cell gets as it happens — and notifications about the session and its cells, each to
// the part it concerns. A host that breaks a bound of this client's meanwhile is treated as lost.
import type { CellId, NestedToolCall, SessionRuntimeDelegate } from '../../src/index.js';
import { HostBrokeBound } from './host-journal-shapes.js';
import type { CellReplays } from './cell-replays.js';
import type { CellObservers } from './cell-observers.js';
import type { HostLink, Inbound } from './link.js';
import type { RemoteCells } from './remote-cells.js';
import type { RemoteStreams } from './remote-streams.js';
import type { ResultBounds } from './result-bounds.js';
import { serveDelegateCall } from './serve-call.js';
import { messageOf } from '../../src/internal.js';
import { ErrorAnswer } from '../wire/messages.js';
import { JsonRpcErrors } from '../wire/protocol.js';
import type { AnswerGate, SessionLedger } from '../../src/internal.js';

const notifying = (request: InboundRequest): boolean => request.name !== 'invokeTool';

/** The session's parts the inbox hands things to (HostSession's). */
export interface InboxParts {
  readonly delegate: SessionRuntimeDelegate;
  readonly bounds: ResultBounds;
  readonly cells: RemoteCells;
  readonly observers: CellObservers;
  readonly streams: RemoteStreams;
  /** With a rehome: the session's ledger, and its cells lost with their host. */
  readonly ledger: SessionLedger | undefined;
  /** What every answer and delegate call passes (with a store: once what it follows is durable). */
  readonly gate: AnswerGate;
  /** With a store: the fencing epoch of this client's lease, which each call carries. */
  epoch(): number | undefined;
  readonly replays: CellReplays | undefined;
  /** The host the session lives on now. */
  link(): HostLink;
  /** How many cell/execute requests are in flight. */
  executing(): number;
  /** The cell closed on its host: the delegate hears cellClosed. */
  closed(cellId: CellId): void;
  /** A cell closed: a hand-off waiting for the session to be idle may go on. */
  settled(): void;
  /** A newer owner of the session's key (`epoch`) created it on the host: it ends here. */
  takenOver(epoch: number): void;
}

type InboundRequest = Extract<Inbound, { type: 'request' }>['message'];
type InboundNotification = Extract<Inbound, { type: 'notification' }>['message'];

export class SessionInbox {
  readonly #parts: InboxParts;
  /**
   * How many messages named a cell this client did not know yet (the cell of an execute in
   * flight, whose answer has not come), or committed stored values: signs that a host ran it.
   */
  #heardOfCells = 0;

  constructor(parts: InboxParts) {
    this.#parts = parts;
  }

  /** Signs so far that a host ran a cell this client does not know (see execute). */
  get heardOfCells(): number {
    return this.#heardOfCells;
  }

  /** A host message for the session, in arrival order. */
  receive(entry: Inbound): void {
    if (this.#parts.executing() > 0 && this.#namesNewCell(entry)) this.#heardOfCells++;
    try {
      if (entry.type === 'request') this.#serve(entry.message);
      else this.#hear(entry.message);
    } catch (error) {
      // A host that broke a bound of this client's is treated as lost: the session moves.
      if (!(error instanceof HostBrokeBound)) throw error;
      this.#parts.link().broken(error.message);
    }
  }

  /** A delegate call from the host, served by the delegate on the session's ledger (SPEC §13). */
  #serve(request: InboundRequest): void {
    const { delegate, bounds, cells, ledger, gate } = this.#parts;
    const call = request.call.value as NestedToolCall;
    const epoch = this.#parts.epoch();
    if (epoch !== undefined && !notifying(request)) call.epoch = epoch;
    // The cell's journal up to this call first: the ledger then knows what the call follows.
    if (request.journal !== undefined) ledger?.journaled(call.cellId, request.journal.start, request.journal.update);
    const bound = bounds.of(call.cellId, cells.isKnown(call.cellId));
    const notify = request.name !== 'invokeTool';
    if (notify) ledger?.notified(call.cellId);
    else ledger?.served(call);
    const serve = (): void => serveDelegateCall(delegate, request, gate, bound, notify ? undefined : ledger);
    // With a store, the delegate gets the call once its record (and the journal before it) is
    // durable, and while this client holds the session's lease.
    gate.call(serve, (error) => {
      if (request.call.open)
        request.call.fail(
          new ErrorAnswer(JsonRpcErrors.delegateFailed, `the session's store failed: ${messageOf(error)}`),
        );
    });
  }

  /** A notification from the host about the session or one of its cells. */
  #hear(message: InboundNotification): void {
    const { ledger, replays, streams, observers, cells } = this.#parts;
    switch (message.type) {
      case 'journal':
        return ledger?.journaled(message.params.cellId, message.params.start, message.params.update);
      case 'catastrophe':
        // Its host goes now, because of this cell: it is never run again elsewhere (SPEC §13).
        return replays?.culprit(message.params.cellId);
      case 'stored':
        return ledger?.committed(message.params.values);
      case 'event':
        return streams.emit(message.params.cellId, message.params.event);
      case 'sessionEvent':
        return streams.emitSession(message.params.event);
      case 'initialEvent':
        return observers.arrived(message.params.cellId, message.params.event);
      case 'closed': {
        const { cellId } = message.params;
        this.#parts.closed(cellId);
        ledger?.closedOnHost(cellId);
        cells.closedOnHost(cellId);
        // A cell whose end this client has not read yet keeps its ledger: if the host is lost
        // first, it runs again elsewhere to that end (its calls all answered from its journal).
        if (cells.isKnown(cellId) && !cells.isOpen(cellId)) ledger?.drop(cellId);
        return this.#parts.settled();
      }
      case 'moved':
        return this.#parts.takenOver(message.params.epoch);
    }
  }

  /** Whether the message names a cell this client does not know, or commits stored values. */
  #namesNewCell(entry: Inbound): boolean {
    const { cells } = this.#parts;
    if (entry.type === 'request') return !cells.isKnown((entry.message.call.value as NestedToolCall).cellId);
    const { message } = entry;
    if (message.type === 'sessionEvent' || message.type === 'moved') return false;
    return message.type === 'stored' || !cells.isKnown(message.params.cellId);
  }
}
