// What one cell's ledger learns, entry by entry (cell-ledger.ts derives what a move or a recovery
// needs from it): what the cell runs (its stored values by the commit it started at), its journal
// as its host sends it (clock readings, calls, deliveries) within this client's bounds, the state
// of each call (made by the cell, served by the delegate, answered, delivered into the cell), the
// pauses asked for, and how much output and how many notifications reached this client.
import type { JournalDelivery, JournaledCall } from '../cell/journal.js';
import { byteLength } from '../json.js';
import type { PausedCellSnapshot } from '../cell/snapshots.js';
import type { CallOutcome, CellEvent, CellId, NestedToolCall, ToolCallRecord } from '../types.js';
import { CallRecord, toolRef, type LedgerCall } from './ledger-call.js';
import { BrokeBound, type LedgerBudget, type LedgerStart, type PartDelivery, type PartUpdate } from './ledger-parts.js';

/** What an entry costs of a ledger's bound besides its text (as a host counts its journal). */
const ENTRY_BYTES = 32;
/** What a clock reading costs of a ledger's bound. */
const READING_BYTES = 16;

export abstract class CellEntries {
  readonly cellId: CellId;
  readonly #budget: LedgerBudget;
  protected startedWith: LedgerStart | undefined;
  /** Its journal began (a start came, or it was restored): updates may come. */
  #began = false;
  /** The cell's tools once its start is let go (a journaled call names its tool by index). */
  protected lostTools: ToolCallRecord['tool'][] = [];
  /** Whether the journal is kept (and how the cell could run again) — or why not. */
  protected journal: { kept: true } | { kept: false; why: string } = {
    kept: false,
    why: 'its host sent no journal (journalMaxBytes 0)',
  };
  protected readonly clock: number[] = [];
  protected readonly calls = new CallRecord();
  /** What entered the cell, in order: a call this client answered stands for its own delivery. */
  protected readonly deliveries: (JournalDelivery | LedgerCall)[] = [];
  /** Outcomes held for a paused cell restored from a snapshot (they go in when it runs again). */
  protected held: JournalDelivery[] = [];
  /** A restored journal's record of the deliveries its sandbox's waits took (ADR 23), as it came. */
  protected waited: [number, number][] | undefined;
  /** Bytes of what the host sent, and of the answers kept besides. */
  #hostBytes = 0;
  #answerBytes = 0;
  /** Output items and notifications that reached this client. */
  protected outputs = 0;
  #notifications = 0;
  /** The interrupted event while a CellInterrupt has it paused (it is restored paused). */
  protected paused: Extract<CellEvent, { kind: 'interrupted' }> | undefined;
  /** Where outcomes go once the cell runs on a new host (cell/settle). */
  protected settle: ((callId: string, answer: CallOutcome) => void) | undefined;

  constructor(cellId: CellId, budget: LedgerBudget) {
    this.cellId = cellId;
    this.#budget = budget;
  }

  /** What the cell runs, and its stored values' commit (undefined: not kept). */
  get start(): LedgerStart | undefined {
    return this.journal.kept ? this.startedWith : undefined;
  }

  /** The bound of what the host may send of this cell: twice its journal's, and its code. */
  get #hostBound(): number {
    return 2 * this.#budget.journalMaxBytes + 2 * this.#budget.maxSourceBytes;
  }

  /** cell/journal's `start`: what the cell runs (once, first). */
  begin(start: LedgerStart): void {
    if (this.#began || this.calls.size > 0) throw new BrokeBound(`a second start of cell ${this.cellId}'s journal`);
    if (this.#budget.journalMaxBytes === 0)
      throw new BrokeBound(`a journal of cell ${this.cellId}, which keeps none (journalMaxBytes 0)`);
    const bytes = byteLength(start.code);
    if (bytes > 2 * this.#budget.maxSourceBytes)
      throw new BrokeBound(`cell ${this.cellId}'s code of ${bytes} bytes, over its maxSourceBytes`);
    this.startedWith = start;
    this.#began = true;
    this.#hostBytes = bytes;
    this.journal = { kept: true };
  }

  /** A paused cell of a snapshot this client restored: it has its journal from there. */
  restored(cell: PausedCellSnapshot): void {
    const { journal, held, event, storedValues, ...run } = cell;
    this.startedWith = { ...run, seed: journal.seed, stored: { values: storedValues } };
    this.#began = true;
    this.journal = { kept: true };
    for (const reading of journal.clock) this.clock.push(reading);
    for (const call of journal.calls) this.#journaled(call);
    for (const delivery of journal.deliveries) this.#delivered(delivery);
    // Its host never waits (it mirrors the journal): what comes later adds no record of waits.
    if (journal.waited !== undefined) this.waited = journal.waited.map(([at, ask]) => [at, ask]);
    for (const delivery of held) this.held.push(delivery);
    this.outputs = journal.outputs;
    this.#notifications = journal.notifications;
    this.paused = { ...event, items: [] };
  }

  /** cell/journal's `update`: what the cell consumed since the last one. */
  update(update: PartUpdate): void {
    if (!this.#began) throw new BrokeBound(`a journal of cell ${this.cellId} before its start`);
    if (!this.journal.kept) return; // lost here already: what comes is not kept
    if (update.lost === true) return this.#lose(`its journal passed journalMaxBytes on its host`);
    for (const reading of update.clock ?? []) this.clock.push(reading);
    this.#hostBytes += (update.clock?.length ?? 0) * READING_BYTES;
    for (const call of update.calls ?? []) this.#journaled(call);
    for (const delivery of update.deliveries ?? []) this.#delivered(delivery);
    if (this.#hostBytes > this.#hostBound)
      throw new BrokeBound(
        `cell ${this.cellId}'s journal of ${this.#hostBytes} bytes, over twice its journalMaxBytes ` +
          `(${this.#budget.journalMaxBytes}) and its code`,
      );
    this.#checkBound();
  }

  /**
   * The delegate got the call (tool/invoke): one the host's journal listed already (sent ahead
   * of its tool/invoke), or journaled from the tool/invoke itself — its tool, and its input as the
   * JSON text the cell made (V8's JSON, parsed and written again, is the same text).
   */
  served(call: NestedToolCall): void {
    const known = this.calls.get(call.callId);
    if (known !== undefined) {
      // Served before: made again now on a person's decision (approved, or retried in doubt), or
      // by its run after a recovery (remade).
      if (known.remade === true) known.remade = undefined;
      else if (known.state !== 'made') this.#decided(known);
      known.state = 'served';
      known.tool = toolRef(call.tool);
      return;
    }
    if (!this.journal.kept) {
      // What a lost cell lists of it is this record.
      this.calls.add({
        callId: call.callId,
        index: -1,
        tool: toolRef(call.tool),
        inputJson: undefined,
        input: call.input,
        state: 'served',
      });
      return this.#boundRecord();
    }
    const tools = this.startedWith?.tools ?? [];
    const { name, namespace } = call.tool;
    const index = tools.findIndex((each) => each.name === name && each.namespace === namespace);
    if (index < 0) throw new BrokeBound(`cell ${this.cellId}'s ${call.callId} calls a tool the cell does not have`);
    const inputJson = JSON.stringify(call.input) ?? '';
    this.#hostBytes += inputJson.length + call.callId.length + ENTRY_BYTES;
    // Its tool is the cell's tools[index] (what `lost` lists).
    this.calls.add({ callId: call.callId, index, tool: undefined, inputJson, input: undefined, state: 'served' });
    this.#checkBound();
  }

  /** A call made on a person's decision waits for no decision: a pause it asked for is settled. */
  #decided(call: LedgerCall): void {
    this.#unpaused(call);
    call.decided = true;
  }

  /** The call asks to pause the cell no more (decided, or answered): wherever the cell runs again. */
  #unpaused(call: LedgerCall): void {
    if (call.pauses !== undefined) {
      call.answerBytes -= call.pauses.length;
      this.#answerBytes -= call.pauses.length;
    }
    call.pauses = undefined;
    call.inDoubt = undefined;
  }

  /** The delegate returned or threw (a CellInterrupt leaves the call pending: it is answered later). */
  settled(callId: string, outcome: 'returned' | 'threw'): void {
    const call = this.calls.get(callId);
    if (call !== undefined) call.outcome = outcome;
  }

  /**
   * The answer the cell gets (`bytes`: its JSON text's size): kept until the host's journal holds
   * its delivery (a replay elsewhere needs it), or sent on at once when the cell runs elsewhere.
   */
  answered(callId: string, answer: CallOutcome, bytes: number, resultText?: string): void {
    const call = this.calls.get(callId);
    if (call === undefined || call.state === 'delivered') return;
    call.state = 'answered';
    // Its answer stands (a person's decline, a call in doubt settled): a run elsewhere takes it, never pausing again.
    this.#unpaused(call);
    if (this.journal.kept) {
      call.answer = answer;
      call.resultText = resultText;
      call.answerBytes = bytes;
      this.#answerBytes += bytes;
      this.#checkBound();
    }
    // The call the cell is paused at gets its answer by resumeCell, not as an outcome.
    if (this.paused?.callId !== callId) this.settle?.(callId, answer);
  }

  /** The delegate asked to pause the cell at this call (its CellInterrupt's payload, JSON text). */
  interrupted(callId: string, payload: string): void {
    const call = this.calls.get(callId);
    if (call === undefined || call.state === 'delivered') return;
    call.pauses = payload;
    call.answerBytes += payload.length;
    this.#answerBytes += payload.length;
    this.#checkBound();
  }

  /** Output items of the cell reached this client (an observation's answer). */
  itemsSeen(count: number): void {
    this.outputs += count;
  }

  /** How many of the cell's output items reached the client so far (a run again produces none of them). */
  get outputsSeen(): number {
    return this.outputs;
  }

  /** A log says the first `count` output items were handed out (with a pause). */
  seenUpTo(count: number): void {
    this.outputs = Math.max(this.outputs, count);
  }

  /** A notification of the cell reached the client's delegate. */
  notified(): void {
    this.#notifications++;
  }

  /** How many of the cell's notifications reached its delegate (a replay sends no more of them). */
  get notifications(): number {
    return this.#notifications;
  }

  /** `total` notifications of the cell reached the delegate (a session's log counts them). */
  notificationsSent(total: number): void {
    this.#notifications = Math.max(this.#notifications, total);
  }

  /** An answer about the cell reached the client: it is paused (`interrupted`), or not any more. */
  observed(event: CellEvent): void {
    this.paused = event.kind === 'interrupted' ? { ...event, items: [] } : undefined;
  }

  #journaled(call: JournaledCall): void {
    const known = this.calls.get(call.callId);
    if (known !== undefined && known.remade !== true)
      throw new BrokeBound(`cell ${this.cellId}'s ${call.callId} journaled twice`);
    this.#hostBytes += call.inputJson.length + call.callId.length + ENTRY_BYTES;
    if (known !== undefined) {
      // A call in doubt its run makes again: journaled by that run, as a call it had not made yet.
      Object.assign(known, { index: call.index, inputJson: call.inputJson, state: 'made', remade: undefined });
      return;
    }
    this.calls.add({
      callId: call.callId,
      index: call.index,
      tool: undefined,
      inputJson: call.inputJson,
      input: undefined,
      state: 'made',
    });
  }

  #delivered(sent: PartDelivery): void {
    if (typeof sent !== 'string' && sent.kind === 'timer') {
      this.deliveries.push(sent);
      this.#hostBytes += ENTRY_BYTES;
      return;
    }
    const callId = typeof sent === 'string' ? sent : sent.callId;
    const call = this.calls.get(callId);
    if (call === undefined)
      throw new BrokeBound(`cell ${this.cellId}'s journal delivers ${callId}, a call it does not hold`);
    // By reference: the result this client answered the call with, as the cell took it. The call
    // is the delivery then (its result text the payload): no entry is made per call.
    const own = typeof sent === 'string' || sent.kind !== 'settle';
    const payload = own ? this.#answerOf(call) : sent.payload;
    this.deliveries.push(own ? call : sent);
    this.#hostBytes += payload.length + callId.length + ENTRY_BYTES;
    // Its text is the delivery's now: the answer kept for it goes.
    this.#answerBytes -= call.answerBytes;
    call.answer = undefined;
    if (!own) call.resultText = undefined;
    call.answerBytes = 0;
    call.pauses = undefined;
    call.inDoubt = undefined;
    call.state = 'delivered';
    if (call.outcome === 'pending') call.outcome = own || sent.ok ? 'returned' : 'threw';
    if (this.held.length > 0) this.held = this.held.filter((held) => held.kind !== 'settle' || held.callId !== callId);
  }

  /** The result text this client answered the call with (a host that names another answer broke the protocol). */
  #answerOf(call: LedgerCall): string {
    if (call.resultText === undefined || call.state === 'delivered')
      throw new BrokeBound(
        `cell ${this.cellId}'s journal names ${call.callId}'s answer, which this client did not give`,
      );
    return call.resultText;
  }

  /** Past its bound (with the answers it keeps), the journal goes: the cell cannot run again. */
  #checkBound(): void {
    if (this.#hostBytes + this.#answerBytes > this.#hostBound)
      this.#lose(
        `its journal and the answers waiting for it passed twice journalMaxBytes (${this.#budget.journalMaxBytes})`,
      );
  }

  /** The journal is let go (the calls' record stays, for a loss to list): the cell cannot run again. */
  lose(why: string): void {
    this.#lose(why);
  }

  /** Read back from a compacted log: the cell was lost (`why`), `dropped` of its oldest answered calls left out. */
  lostBefore(why: string, dropped: number): void {
    this.#lose(why);
    this.calls.dropped += dropped;
  }

  /** The cell keeps no journal (journalMaxBytes 0): it never runs again. */
  get keepsNoJournal(): boolean {
    return this.#budget.journalMaxBytes === 0;
  }

  #lose(why: string): void {
    if (!this.journal.kept) return;
    this.journal = { kept: false, why };
    // The calls it lists still name their tools.
    this.lostTools = this.startedWith?.tools.map(toolRef) ?? [];
    this.startedWith = undefined;
    this.clock.length = 0;
    this.deliveries.length = 0;
    this.waited = undefined;
    this.held = [];
    for (const call of this.calls) {
      call.answer = undefined;
      call.resultText = undefined;
      call.answerBytes = 0;
    }
    this.#answerBytes = 0;
    this.#hostBytes = 0;
    this.#boundRecord();
  }

  /** Without a journal, the record lists at most MAX_RECORDED_CALLS: the oldest answered ones go. */
  #boundRecord(): void {
    if (!this.journal.kept) this.calls.bound();
  }
}
