// One cell's ledger on a re-homing client (SPEC §13, issue 64), or read back from a store (SPEC
// §16): the one ordered record of what the agent's side knows of the cell — what it runs (its
// stored values by the commit it started at), its journal as its host sends it (clock readings,
// calls, deliveries), the state of each call (made by the cell, served by the delegate, answered,
// delivered into the cell), and how much output and how many notifications reached this client.
// What a move needs is derived from it: the calls of a cell lost with its host (`lost`), the cell
// as another host runs it again (`replayable`), the calls still in flight there, and those in
// doubt after a recovery (`inDoubt`). Its bounds are this client's own figures.
import type { JournalDelivery, JournaledCall } from '../cell/journal.js';
import { byteLength } from '../json.js';
import type { PausedCellSnapshot, ReplayableCell } from '../cell/snapshots.js';
import type { CallOutcome, CellEvent, CellId, NestedToolCall, ToolCallRecord } from '../types.js';
import {
  asDelivery,
  CallRecord,
  inDoubt,
  inputOf,
  listedOutcome,
  pauseOf,
  toolRef,
  type LedgerCall,
} from './ledger-call.js';
import { BrokeBound, type LedgerBudget, type LedgerStart, type PartDelivery, type PartUpdate } from './ledger-parts.js';

/** What an entry costs of a ledger's bound besides its text (as a host counts its journal). */
const ENTRY_BYTES = 32;
/** What a clock reading costs of a ledger's bound. */
const READING_BYTES = 16;
/**
 * How often a cell runs again after losses of its hosts: past it, it ends `hostLost`. No bound is
 * needed against a cell that kills its host by running out of memory (its host names it:
 * host/catastrophe); this one stops a cell that takes its hosts down some other way.
 */
export const MAX_CELL_MOVES = 8;

export class CellLedger {
  readonly cellId: CellId;
  readonly #budget: LedgerBudget;
  #start: LedgerStart | undefined;
  /** Its journal began (a start came, or it was restored): updates may come. */
  #began = false;
  /** The cell's tools once its start is let go (a journaled call names its tool by index). */
  #tools: ToolCallRecord['tool'][] = [];
  /** Whether the journal is kept (and how the cell could run again) — or why not. */
  #journal: { kept: true } | { kept: false; why: string } = {
    kept: false,
    why: 'its host sent no journal (journalMaxBytes 0)',
  };
  readonly #clock: number[] = [];
  readonly #calls = new CallRecord();
  /** What entered the cell, in order: a call this client answered stands for its own delivery. */
  readonly #deliveries: (JournalDelivery | LedgerCall)[] = [];
  /** Outcomes held for a paused cell restored from a snapshot (they go in when it runs again). */
  #held: JournalDelivery[] = [];
  /** Bytes of what the host sent, and of the answers kept besides. */
  #hostBytes = 0;
  #answerBytes = 0;
  /** Output items and notifications that reached this client. */
  #outputs = 0;
  #notifications = 0;
  /** The interrupted event while a CellInterrupt has it paused (it is restored paused). */
  #paused: Extract<CellEvent, { kind: 'interrupted' }> | undefined;
  /** How often it ran again after a loss of its host. */
  #moves = 0;
  /** Where outcomes go once the cell runs on a new host (cell/settle). */
  #settle: ((callId: string, answer: CallOutcome) => void) | undefined;

  constructor(cellId: CellId, budget: LedgerBudget) {
    this.cellId = cellId;
    this.#budget = budget;
  }

  /** What the cell runs, and its stored values' commit (undefined: not kept). */
  get start(): LedgerStart | undefined {
    return this.#journal.kept ? this.#start : undefined;
  }

  /** The bound of what the host may send of this cell: twice its journal's, and its code. */
  get #hostBound(): number {
    return 2 * this.#budget.journalMaxBytes + 2 * this.#budget.maxSourceBytes;
  }

  /** cell/journal's `start`: what the cell runs (once, first). */
  begin(start: LedgerStart): void {
    if (this.#began || this.#calls.size > 0) throw new BrokeBound(`a second start of cell ${this.cellId}'s journal`);
    if (this.#budget.journalMaxBytes === 0)
      throw new BrokeBound(`a journal of cell ${this.cellId}, which keeps none (journalMaxBytes 0)`);
    const bytes = byteLength(start.code);
    if (bytes > 2 * this.#budget.maxSourceBytes)
      throw new BrokeBound(`cell ${this.cellId}'s code of ${bytes} bytes, over its maxSourceBytes`);
    this.#start = start;
    this.#began = true;
    this.#hostBytes = bytes;
    this.#journal = { kept: true };
  }

  /** A paused cell of a snapshot this client restored: it has its journal from there. */
  restored(cell: PausedCellSnapshot): void {
    const { journal, held, event, storedValues, ...run } = cell;
    this.#start = { ...run, seed: journal.seed, stored: { values: storedValues } };
    this.#began = true;
    this.#journal = { kept: true };
    for (const reading of journal.clock) this.#clock.push(reading);
    for (const call of journal.calls) this.#journaled(call);
    for (const delivery of journal.deliveries) this.#delivered(delivery);
    for (const delivery of held) this.#held.push(delivery);
    this.#outputs = journal.outputs;
    this.#notifications = journal.notifications;
    this.#paused = { ...event, items: [] };
  }

  /** cell/journal's `update`: what the cell consumed since the last one. */
  update(update: PartUpdate): void {
    if (!this.#began) throw new BrokeBound(`a journal of cell ${this.cellId} before its start`);
    if (!this.#journal.kept) return; // lost here already: what comes is not kept
    if (update.lost === true) return this.#lose(`its journal passed journalMaxBytes on its host`);
    for (const reading of update.clock ?? []) this.#clock.push(reading);
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
    const known = this.#calls.get(call.callId);
    if (known !== undefined) {
      // Served before: made again now on a person's decision (approved, or retried in doubt).
      if (known.state !== 'made') this.#decided(known);
      known.state = 'served';
      known.tool = toolRef(call.tool);
      return;
    }
    if (!this.#journal.kept) {
      // What a lost cell lists of it is this record.
      this.#calls.add({
        callId: call.callId,
        index: -1,
        tool: toolRef(call.tool),
        inputJson: undefined,
        input: call.input,
        state: 'served',
      });
      return this.#boundRecord();
    }
    const tools = this.#start?.tools ?? [];
    const { name, namespace } = call.tool;
    const index = tools.findIndex((each) => each.name === name && each.namespace === namespace);
    if (index < 0) throw new BrokeBound(`cell ${this.cellId}'s ${call.callId} calls a tool the cell does not have`);
    const inputJson = JSON.stringify(call.input) ?? '';
    this.#hostBytes += inputJson.length + call.callId.length + ENTRY_BYTES;
    // Its tool is the cell's tools[index] (what `lost` lists).
    this.#calls.add({ callId: call.callId, index, tool: undefined, inputJson, input: undefined, state: 'served' });
    this.#checkBound();
  }

  /** A call made on a person's decision waits for no decision: a pause it asked for is settled. */
  #decided(call: LedgerCall): void {
    if (call.pauses !== undefined) {
      call.answerBytes -= call.pauses.length;
      this.#answerBytes -= call.pauses.length;
    }
    call.pauses = undefined;
    call.inDoubt = undefined;
    call.decided = true;
  }

  /**
   * The ledger was read back from a store (a recovery): the call the cell is paused at, if a
   * person's decision made it or gave it an outcome, holds the cell paused no more — it runs again
   * and takes that outcome, or finds the call in doubt (never paused for the same approval twice).
   */
  readBack(): void {
    const paused = this.#paused === undefined ? undefined : this.#calls.get(this.#paused.callId);
    if (paused !== undefined && (paused.decided === true || paused.state === 'answered')) this.#paused = undefined;
  }

  /** Whether a person's decision made the call (approved, or retried in doubt). */
  decided(callId: string): boolean {
    return this.#calls.get(callId)?.decided === true;
  }

  /** The delegate returned or threw (a CellInterrupt leaves the call pending: it is answered later). */
  settled(callId: string, outcome: 'returned' | 'threw'): void {
    const call = this.#calls.get(callId);
    if (call !== undefined) call.outcome = outcome;
  }

  /**
   * The answer the cell gets (`bytes`: its JSON text's size): kept until the host's journal holds
   * its delivery (a replay elsewhere needs it), or sent on at once when the cell runs elsewhere.
   */
  answered(callId: string, answer: CallOutcome, bytes: number, resultText?: string): void {
    const call = this.#calls.get(callId);
    if (call === undefined || call.state === 'delivered') return;
    call.state = 'answered';
    if (this.#journal.kept) {
      call.answer = answer;
      call.resultText = resultText;
      call.answerBytes = bytes;
      this.#answerBytes += bytes;
      this.#checkBound();
    }
    // The call the cell is paused at gets its answer by resumeCell, not as an outcome.
    if (this.#paused?.callId !== callId) this.#settle?.(callId, answer);
  }

  /** The delegate asked to pause the cell at this call (its CellInterrupt's payload, JSON text). */
  interrupted(callId: string, payload: string): void {
    const call = this.#calls.get(callId);
    if (call === undefined || call.state === 'delivered') return;
    call.pauses = payload;
    call.answerBytes += payload.length;
    this.#answerBytes += payload.length;
    this.#checkBound();
  }

  /** Output items of the cell reached this client (an observation's answer). */
  itemsSeen(count: number): void {
    this.#outputs += count;
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

  /** The calls the delegate got whose outcome is not known (in doubt), but those that pause the cell. */
  get inDoubt(): string[] {
    return [...this.#calls].filter(inDoubt).map((call) => call.callId);
  }

  /** A recovery pauses the cell at this call in doubt (LedgerCall#inDoubt), here and wherever it runs again. */
  doubted(callId: string): void {
    const call = this.#calls.get(callId);
    if (call !== undefined && call.state !== 'delivered') call.inDoubt = true;
  }

  /** An answer about the cell reached the client: it is paused (`interrupted`), or not any more. */
  observed(event: CellEvent): void {
    this.#paused = event.kind === 'interrupted' ? { ...event, items: [] } : undefined;
  }

  /** The cell's calls as they stand now: what a cell lost with its host lists (the delegate's view). */
  lost(agentLost = false): { toolCalls: ToolCallRecord[]; toolCallsDropped?: number } {
    const toolCalls: ToolCallRecord[] = [];
    for (const call of this.#calls) {
      if (call.state === 'made') continue; // never reached the delegate: it had no effect
      const known = this.#start?.tools[call.index] ?? this.#tools[call.index];
      const tool = call.tool ?? (known === undefined ? { name: 'unknown' } : toolRef(known));
      toolCalls.push({ callId: call.callId, tool, input: inputOf(call), outcome: listedOutcome(call, agentLost) });
    }
    const dropped = this.#calls.dropped;
    return dropped === 0 ? { toolCalls } : { toolCalls, toolCallsDropped: dropped };
  }

  /**
   * Why the cell cannot run again on another host, or undefined when it can: a journal kept
   * whole, within the bound against a cell that takes its hosts down.
   */
  get unreplayable(): string | undefined {
    if (!this.#journal.kept) return this.#journal.why;
    if (this.#start === undefined) return 'its host sent no start of its journal';
    if (this.#moves >= MAX_CELL_MOVES)
      return `it ran again after ${this.#moves} losses of its host, the bound against a cell that takes its hosts down`;
    return undefined;
  }

  /**
   * The cell as a new host runs it again (`values`: its stored values as it started): the journal
   * of the calls the delegate got (those it never got are made again, live), and those still in
   * flight here (their outcomes come by cell/settle).
   */
  replayable(values: Record<string, string> | null): ReplayableCell | undefined {
    const start = this.#start;
    if (start === undefined || this.unreplayable !== undefined) return undefined;
    const { seed, stored: _, ...run } = start;
    const calls: JournaledCall[] = [];
    const outstanding: string[] = [];
    // Calls that asked to pause it besides the one it is paused at: it pauses at each in turn there.
    const queued: NonNullable<ReplayableCell['queued']> = [];
    for (const call of this.#calls) {
      if (call.state === 'made') continue;
      calls.push({ callId: call.callId, index: call.index, inputJson: call.inputJson ?? '' });
      if (call.state === 'delivered') continue;
      const pause = call.callId === this.#paused?.callId ? undefined : pauseOf(call);
      if (pause === undefined) outstanding.push(call.callId);
      else queued.push(pause);
    }
    const journal = {
      seed,
      clock: this.#clock,
      deliveries: this.#deliveries.map(asDelivery),
      calls,
      outputs: this.#outputs,
      notifications: this.#notifications,
    };
    const paused = this.#paused === undefined ? {} : { paused: this.#paused, held: this.#held };
    const waiting = queued.length === 0 ? {} : { queued };
    return { cellId: this.cellId, ...run, storedValues: values, journal, outstanding, ...paused, ...waiting };
  }

  /**
   * The cell runs again on a new host: the calls the delegate never got — and `again`, calls in
   * doubt its run makes again — are made there anew (they leave the ledger), answers that came
   * meanwhile go there now, and later ones as they come.
   */
  replaying(settle: (callId: string, answer: CallOutcome) => void, again: readonly string[] = []): void {
    // Restored paused, it runs no code: only a run counts as a move.
    if (this.#paused === undefined) this.#moves++;
    for (const callId of again) {
      const call = this.#calls.get(callId);
      if (call !== undefined && call.state === 'served' && call.outcome === 'pending') call.state = 'made';
    }
    this.#calls.dropMade();
    this.#settle = settle;
    for (const call of this.#calls)
      if (call.state === 'answered' && call.answer !== undefined) settle(call.callId, call.answer);
  }

  /** Between hosts: outcomes wait here until the cell runs on the next one. */
  detached(): void {
    this.#settle = undefined;
  }

  #journaled(call: JournaledCall): void {
    if (this.#calls.get(call.callId) !== undefined)
      throw new BrokeBound(`cell ${this.cellId}'s ${call.callId} journaled twice`);
    this.#hostBytes += call.inputJson.length + call.callId.length + ENTRY_BYTES;
    this.#calls.add({
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
      this.#deliveries.push(sent);
      this.#hostBytes += ENTRY_BYTES;
      return;
    }
    const callId = typeof sent === 'string' ? sent : sent.callId;
    const call = this.#calls.get(callId);
    if (call === undefined)
      throw new BrokeBound(`cell ${this.cellId}'s journal delivers ${callId}, a call it does not hold`);
    // By reference: the result this client answered the call with, as the cell took it. The call
    // is the delivery then (its result text the payload): no entry is made per call.
    const own = typeof sent === 'string' || sent.kind !== 'settle';
    const payload = own ? this.#answerOf(call) : sent.payload;
    this.#deliveries.push(own ? call : sent);
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
    if (this.#held.length > 0)
      this.#held = this.#held.filter((held) => held.kind !== 'settle' || held.callId !== callId);
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
    this.#calls.dropped += dropped;
  }

  /** The cell keeps no journal (journalMaxBytes 0): it never runs again. */
  get keepsNoJournal(): boolean {
    return this.#budget.journalMaxBytes === 0;
  }

  #lose(why: string): void {
    if (!this.#journal.kept) return;
    this.#journal = { kept: false, why };
    // The calls it lists still name their tools.
    this.#tools = this.#start?.tools.map(toolRef) ?? [];
    this.#start = undefined;
    this.#clock.length = 0;
    this.#deliveries.length = 0;
    this.#held = [];
    for (const call of this.#calls) {
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
    if (!this.#journal.kept) this.#calls.bound();
  }
}
