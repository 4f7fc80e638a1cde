// One cell's ledger on a re-homing client (SPEC §13, issue 64), or read back from a store (SPEC
// §16): the one ordered record of what the agent's side knows of the cell (cell-entries.ts: what
// it runs, its journal as its host sends it, each call's state, its pauses), and what a move or a
// recovery derives from it: the calls of a cell lost with its host (`lost`), the cell as another
// host runs it again (`replayable`), the calls still in flight there, and those in doubt after a
// recovery (`inDoubt`). Its bounds are this client's own figures.
import type { JournaledCall } from '../cell/journal.js';
import type { ReplayableCell } from '../cell/snapshots.js';
import type { CallOutcome, ToolCallRecord } from '../types.js';
import { CellEntries } from './cell-entries.js';
import { asDelivery, inDoubt, inputOf, listedOutcome, pauseOf, toolRef } from './ledger-call.js';

/**
 * How often a cell runs again after losses of its hosts: past it, it ends `hostLost`. No bound is
 * needed against a cell that kills its host by running out of memory (its host names it:
 * host/catastrophe); this one stops a cell that takes its hosts down some other way.
 */
export const MAX_CELL_MOVES = 8;

export class CellLedger extends CellEntries {
  /** How often it ran again after a loss of its host. */
  #moves = 0;

  /**
   * The ledger was read back from a store (a recovery): the call the cell is paused at, if a
   * person's decision made it or gave it an outcome, holds the cell paused no more — it runs again
   * and takes that outcome, or finds the call in doubt (never paused for the same approval twice).
   */
  readBack(): void {
    const paused = this.paused === undefined ? undefined : this.calls.get(this.paused.callId);
    if (paused !== undefined && (paused.decided === true || paused.state === 'answered')) this.paused = undefined;
  }

  /** Whether a person's decision made the call (approved, or retried in doubt). */
  decided(callId: string): boolean {
    return this.calls.get(callId)?.decided === true;
  }

  /** The calls the delegate got whose outcome is not known (in doubt), but those that pause the cell. */
  get inDoubt(): string[] {
    return [...this.calls].filter(inDoubt).map((call) => call.callId);
  }

  /** A recovery pauses the cell at this call in doubt (LedgerCall#inDoubt), here and wherever it runs again. */
  doubted(callId: string): void {
    const call = this.calls.get(callId);
    if (call !== undefined && call.state !== 'delivered') call.inDoubt = true;
  }

  /** The cell's calls as they stand now: what a cell lost with its host lists (the delegate's view). */
  lost(agentLost = false): { toolCalls: ToolCallRecord[]; toolCallsDropped?: number } {
    const toolCalls: ToolCallRecord[] = [];
    for (const call of this.calls) {
      if (call.state === 'made') continue; // never reached the delegate: it had no effect
      const known = this.startedWith?.tools[call.index] ?? this.lostTools[call.index];
      const tool = call.tool ?? (known === undefined ? { name: 'unknown' } : toolRef(known));
      toolCalls.push({ callId: call.callId, tool, input: inputOf(call), outcome: listedOutcome(call, agentLost) });
    }
    const dropped = this.calls.dropped;
    return dropped === 0 ? { toolCalls } : { toolCalls, toolCallsDropped: dropped };
  }

  /**
   * Why the cell cannot run again on another host, or undefined when it can: a journal kept
   * whole, within the bound against a cell that takes its hosts down.
   */
  get unreplayable(): string | undefined {
    if (!this.journal.kept) return this.journal.why;
    if (this.startedWith === undefined) return 'its host sent no start of its journal';
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
    const start = this.startedWith;
    if (start === undefined || this.unreplayable !== undefined) return undefined;
    const { seed, stored: _, ...run } = start;
    const calls: JournaledCall[] = [];
    const outstanding: string[] = [];
    // Calls that asked to pause it besides the one it is paused at: it pauses at each in turn there.
    const queued: NonNullable<ReplayableCell['queued']> = [];
    for (const call of this.calls) {
      if (call.state === 'made' || call.remade === true) continue; // made anew by the run, not replayed
      calls.push({ callId: call.callId, index: call.index, inputJson: call.inputJson ?? '' });
      if (call.state === 'delivered') continue;
      const pause = call.callId === this.paused?.callId ? undefined : pauseOf(call);
      if (pause === undefined) outstanding.push(call.callId);
      else queued.push(pause);
    }
    const journal = {
      seed,
      clock: this.clock,
      deliveries: this.deliveries.map(asDelivery),
      calls,
      outputs: this.outputs,
      notifications: this.notifications,
      ...(this.waited === undefined ? {} : { waited: this.waited }),
    };
    const paused = this.paused === undefined ? {} : { paused: this.paused, held: this.held };
    const waiting = queued.length === 0 ? {} : { queued };
    return { cellId: this.cellId, ...run, storedValues: values, journal, outstanding, ...paused, ...waiting };
  }

  /**
   * The cell runs again on a new host: the calls the delegate never got are made there anew (they
   * leave the ledger), and `again`, calls in doubt its run makes again, are its new run's to
   * journal (kept meanwhile: a loss lists them); with `settle`, answers that came meanwhile go
   * there now, and later ones as they come (else settleTo, once the host took the cell).
   */
  replaying(settle: ((callId: string, answer: CallOutcome) => void) | undefined, again: readonly string[] = []): void {
    // Restored paused, it runs no code: only a run counts as a move.
    if (this.paused === undefined) this.#moves++;
    // Calls in doubt its run makes again: kept (a loss lists them) until that run journals them.
    for (const callId of again) {
      const call = this.calls.get(callId);
      if (call !== undefined && call.state === 'served' && call.outcome === 'pending') call.remade = true;
    }
    this.calls.dropMade();
    if (settle !== undefined) this.settleTo(settle);
  }

  /** The cell runs on a new host: answers that came meanwhile go there now, later ones as they come. */
  settleTo(settle: (callId: string, answer: CallOutcome) => void): void {
    this.settle = settle;
    for (const call of this.calls)
      if (call.state === 'answered' && call.answer !== undefined) settle(call.callId, call.answer);
  }

  /** Between hosts: outcomes wait here until the cell runs on the next one. */
  detached(): void {
    this.settle = undefined;
  }
}
