// What a host sends a re-homing client about each running cell of a session (SPEC §13, ADR 16):
// first what the cell runs, then its journal as it grows, each time just before another message
// about the cell leaves — so the client holds the journal up to every effect of the cell it has
// seen (a call, a notification, output), and can run the cell again elsewhere if this host is lost.
import type { CellId } from '../../src/index.js';
import type { HostedCells, JournalMark } from '../../src/internal.js';
import type { Notify } from '../wire/rpc.js';
import { Methods, type CellJournalPart, type SessionId } from '../wire/protocol.js';

export class JournalMirror {
  readonly #cells: HostedCells;
  readonly #notify: Notify;
  readonly #sessionId: SessionId;
  /** Per running cell, how far its journal was sent (null: it keeps none, nothing to send). */
  readonly #marks = new Map<CellId, JournalMark | null>();

  constructor(cells: HostedCells, notify: Notify, sessionId: SessionId) {
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
   * as it goes with a delegate call (its `journal`); undefined when nothing.
   */
  take(cellId: CellId): CellJournalPart | undefined {
    const mark = this.#marks.get(cellId);
    if (mark === null) return undefined;
    const journal = this.#cells.cellJournal(cellId, mark);
    if (journal === undefined) {
      if (mark === undefined) this.#marks.set(cellId, null);
      return undefined;
    }
    this.#marks.set(cellId, journal.mark);
    const { start, update } = journal;
    if (start === undefined && update === undefined) return undefined;
    return { ...(start === undefined ? {} : { start }), ...(update === undefined ? {} : { update }) };
  }

  /** The cell closed: nothing more is sent about it. */
  closed(cellId: CellId): void {
    this.#marks.delete(cellId);
  }
}
