// What a host sends a re-homing client about each running cell of a session (SPEC §13, ADR 16):
// first what the cell runs, then its journal as it grows, each time just before another message
// about the cell leaves — so the client holds the journal up to every effect of the cell it has
// seen (a call, a notification, output), and can run the cell again elsewhere if this host is lost.
// What the client has already is sent by reference (issue 66): a call it was sent in a tool/invoke
// is not listed again, and an outcome that is the value it answered that call with is named, not
// sent back.
import type { CellId, JournalDelivery } from '../../src/index.js';
import type { HostedCells, JournalTaken } from '../../src/internal.js';
import type { Notify } from '../wire/rpc.js';
import {
  Methods,
  type CellJournalPart,
  type SessionId,
  type WireDelivery,
  type WireJournalUpdate,
} from '../wire/protocol.js';

/** Per running cell: how far its journal was sent (JournalTaken), and the answers its client gave. */
interface Mirrored extends JournalTaken {
  /** Calls whose outcome is the value the client answered them with (until that outcome is sent). */
  readonly answered: Set<string>;
}

export class JournalMirror {
  readonly #cells: HostedCells;
  readonly #notify: Notify;
  readonly #sessionId: SessionId;
  readonly #mirrored = new Map<CellId, Mirrored>();

  constructor(cells: HostedCells, notify: Notify, sessionId: SessionId) {
    cells.mirrored = true;
    this.#cells = cells;
    this.#notify = notify;
    this.#sessionId = sessionId;
  }

  /** Sends what the cell's journal gained since it was last sent (and, the first time, what it runs). */
  flush(cellId: CellId): void {
    const journal = this.take(cellId);
    if (journal !== undefined) this.#notify(Methods.cellJournal, { sessionId: this.#sessionId, cellId, ...journal });
  }

  /**
   * What the cell's journal gained since it was last sent (and, the first time, what it runs),
   * as it goes with a delegate call (its `journal`); undefined when nothing. `sending`: the call
   * this part goes with (a tool/invoke): the client journals it from there.
   */
  take(cellId: CellId, sending?: string): CellJournalPart | undefined {
    let cell = this.#mirrored.get(cellId);
    if (cell === undefined) this.#mirrored.set(cellId, (cell = { mark: undefined, answered: new Set() }));
    const journal = this.#cells.cellJournal(cellId, cell);
    if (journal === undefined) return undefined;
    const { start, update } = journal;
    if (update === undefined) return { start };
    // By reference: the call this part goes with (recorded before it is sent: it is here or in a
    // part sent before), and the answers the client gave (a call's id alone). The counts of output
    // and notifications stay here: the client counts what reached it.
    const { clock, calls, deliveries, lost } = update;
    const wire: WireJournalUpdate = {};
    if (clock !== undefined) wire.clock = clock;
    if (calls !== undefined && !(calls.length === 1 && calls[0]?.callId === sending)) {
      const unsent = sending === undefined ? calls : calls.filter((call) => call.callId !== sending);
      if (unsent.length > 0) wire.calls = unsent;
    }
    if (deliveries !== undefined) {
      // The update is new: its list is changed in place.
      const sent: WireDelivery[] = deliveries;
      for (let index = 0; index < deliveries.length; index++) {
        const delivery = deliveries[index] as JournalDelivery;
        if (delivery.kind === 'settle' && delivery.ok && cell.answered.delete(delivery.callId))
          sent[index] = delivery.callId;
      }
      wire.deliveries = sent;
    }
    if (lost !== undefined) wire.lost = lost;
    // Only the call it goes with, or counts: nothing to send.
    if (clock === undefined && wire.calls === undefined && deliveries === undefined && lost === undefined)
      return start === undefined ? undefined : { start };
    return start === undefined ? { update: wire } : { start, update: wire };
  }

  /** The client answered the cell's call with a value (its outcome, if it enters the cell, is that value). */
  answered(cellId: CellId, callId: string): void {
    this.#mirrored.get(cellId)?.answered.add(callId);
  }

  /** The cell closed: nothing more is sent about it. */
  closed(cellId: CellId): void {
    this.#mirrored.delete(cellId);
  }
}
