// What a re-homing client keeps of each running cell of a session (SPEC §13, ADR 16): what the
// cell runs and its journal as its host sends them (cell/journal), the calls the client's
// delegate served for it with their outcomes, and how much output and how many notifications
// reached the client. From these, a cell whose host is lost runs again on the new host
// (cell/replay): recorded outcomes go in without the delegate, output already seen is not
// repeated, and the calls still in flight are answered by the delegate's own promises.
import type {
  CellAnswer,
  CellEvent,
  CellId,
  JournalDelivery,
  JournaledCall,
  JournalUpdate,
  ObserveMode,
  ReplayableCell,
  ReplayStart,
} from '../../src/index.js';
import { byteLength } from '../../src/internal.js';

/** What a call's outcome costs of a kept journal's bound besides its text. */
const ENTRY_BYTES = 32;

/** A served call: waiting for the delegate, answered (not yet in the journal), or in the journal. */
type Served = { state: 'pending' } | { state: 'answered'; answer: CellAnswer } | { state: 'delivered' };

interface KeptCell {
  start: ReplayStart | undefined;
  readonly clock: number[];
  readonly calls: JournaledCall[];
  readonly deliveries: JournalDelivery[];
  bytes: number;
  /** The journal passed its bound (or the host said so): the cell cannot run again. */
  lost: boolean;
  readonly served: Map<string, Served>;
  /** Output items and notifications that reached this client. */
  outputs: number;
  notifications: number;
  /** The cell runs from a replay already: if its host is lost too, it is not replayed again. */
  replayed: boolean;
  /** Its initial observation's mode (asked again of the new host if it had not come). */
  readonly initialMode: ObserveMode | undefined;
  /** The cell's interrupted event while a CellInterrupt has it paused (it is restored paused). */
  paused: Extract<CellEvent, { kind: 'interrupted' }> | undefined;
  /** Where the outcomes of calls still in flight go once the cell runs on a new host. */
  settle: ((callId: string, answer: CellAnswer) => void) | undefined;
}

export class CellJournals {
  readonly #cells = new Map<CellId, KeptCell>();

  /** The cell was admitted (its journal comes from the host as it runs). */
  admitted(cellId: CellId, initialMode?: ObserveMode): void {
    if (this.#cells.has(cellId)) return;
    this.#cells.set(cellId, {
      start: undefined,
      clock: [],
      calls: [],
      deliveries: [],
      bytes: 0,
      lost: false,
      served: new Map(),
      outputs: 0,
      notifications: 0,
      replayed: false,
      initialMode,
      paused: undefined,
      settle: undefined,
    });
  }

  /** cell/journal: what the cell runs, or what it consumed since the last one. */
  journaled(cellId: CellId, start: ReplayStart | undefined, update: JournalUpdate | undefined): void {
    let cell = this.#cells.get(cellId);
    if (cell === undefined) {
      this.admitted(cellId);
      cell = this.#cells.get(cellId) as KeptCell;
    }
    if (cell.lost) return;
    if (start !== undefined) {
      // A cell's first message, or a replayed cell's on its new host: the journal comes whole after it.
      cell.start = start;
      cell.clock.length = 0;
      cell.calls.length = 0;
      cell.deliveries.length = 0;
      cell.bytes = byteLength(start.code) + byteLength(JSON.stringify(start.storedValues ?? {}));
    }
    if (update === undefined) return;
    if (update.lost === true) return this.#lose(cell);
    if (update.clock !== undefined) {
      cell.clock.push(...update.clock);
      cell.bytes += update.clock.length * 16;
    }
    for (const call of update.calls ?? []) {
      cell.calls.push(call);
      cell.bytes += call.inputJson.length + ENTRY_BYTES;
    }
    for (const delivery of update.deliveries ?? []) {
      cell.deliveries.push(delivery);
      if (delivery.kind === 'settle') {
        cell.bytes += delivery.payload.length + ENTRY_BYTES;
        if (cell.served.has(delivery.callId)) cell.served.set(delivery.callId, { state: 'delivered' });
      }
    }
    // What the host keeps within journalMaxBytes the client keeps too, with what the cell runs.
    const bound = 2 * (cell.start?.limits.journalMaxBytes ?? 0) + (cell.start?.limits.maxSourceBytes ?? 0);
    if (cell.start !== undefined && cell.bytes > bound + (cell.start.limits.maxStoredBytes ?? 0)) this.#lose(cell);
  }

  /** The client's delegate got the cell's call. */
  served(cellId: CellId, callId: string): void {
    this.#cells.get(cellId)?.served.set(callId, { state: 'pending' });
  }

  /** The delegate settled the call: kept until the journal holds its delivery (or sent on, after a replay). */
  answered(cellId: CellId, callId: string, answer: CellAnswer): void {
    const cell = this.#cells.get(cellId);
    const served = cell?.served.get(callId);
    if (cell === undefined || served?.state !== 'pending') return;
    if (cell.settle !== undefined) {
      cell.served.set(callId, { state: 'delivered' });
      cell.settle(callId, answer);
    } else cell.served.set(callId, { state: 'answered', answer });
  }

  /** Output items of the cell reached this client (an observation's answer). */
  itemsSeen(cellId: CellId, count: number): void {
    const cell = this.#cells.get(cellId);
    if (cell !== undefined) cell.outputs += count;
  }

  /** An answer about the cell reached the client: it is paused (`interrupted`), or not any more. */
  observed(event: CellEvent): void {
    const cell = this.#cells.get(event.cellId);
    if (cell !== undefined) cell.paused = event.kind === 'interrupted' ? { ...event, items: [] } : undefined;
  }

  /** A notification of the cell reached the client's delegate. */
  notified(cellId: CellId): void {
    const cell = this.#cells.get(cellId);
    if (cell !== undefined) cell.notifications++;
  }

  /** The cell closed on its host: nothing of it is kept. */
  closed(cellId: CellId): void {
    this.#cells.delete(cellId);
  }

  /** The initial observation's mode of a kept cell. */
  initialMode(cellId: CellId): ObserveMode | undefined {
    return this.#cells.get(cellId)?.initialMode;
  }

  /**
   * The cell as the new host runs it again, or undefined when it cannot be (no journal, past its
   * bound, or it was replayed once already: one bad cell never takes down host after host).
   */
  replayable(cellId: CellId): ReplayableCell | undefined {
    const cell = this.#cells.get(cellId);
    if (cell === undefined || cell.lost || cell.replayed || cell.start === undefined) return undefined;
    const { seed, ...start } = cell.start;
    const settled = new Set<string>();
    for (const delivery of cell.deliveries) if (delivery.kind === 'settle') settled.add(delivery.callId);
    // A call this client never got (it waited for a slot on the lost host) is made again, live.
    const calls = cell.calls.filter(({ callId }) => settled.has(callId) || cell.served.has(callId));
    const outstanding = calls.map(({ callId }) => callId).filter((callId) => !settled.has(callId));
    const journal = {
      seed,
      clock: [...cell.clock],
      deliveries: [...cell.deliveries],
      calls,
      outputs: cell.outputs,
      notifications: cell.notifications,
    };
    return { cellId, ...start, journal, outstanding, ...(cell.paused === undefined ? {} : { paused: cell.paused }) };
  }

  /**
   * The cell runs again on a new host: outcomes that came meanwhile go there now (`settle`), and
   * those still to come as they do.
   */
  replaying(cellId: CellId, settle: (callId: string, answer: CellAnswer) => void): void {
    const cell = this.#cells.get(cellId);
    if (cell === undefined) return;
    // Restored paused runs no code: only a run is counted (a paused cell resumed later may run again once).
    if (cell.paused === undefined) cell.replayed = true;
    cell.settle = settle;
    for (const [callId, served] of cell.served)
      if (served.state === 'answered') {
        cell.served.set(callId, { state: 'delivered' });
        settle(callId, served.answer);
      }
  }

  #lose(cell: KeptCell): void {
    cell.lost = true;
    cell.start = undefined;
    cell.clock.length = 0;
    cell.calls.length = 0;
    cell.deliveries.length = 0;
  }
}
