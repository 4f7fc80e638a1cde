// One call in a cell's ledger (cell-ledger.ts): where it stands, what the delegate did and
// answered, and whether it asked to pause the cell; and the cell's calls in order (CallRecord).
import type { QueuedPause } from '../cell/cell.js';
import type { JournalDelivery } from '../cell/journal.js';
import type { CallOutcome, JsonValue, ToolCallRecord } from '../types.js';

export const toolRef = ({ name, namespace }: { name: string; namespace?: string }): ToolCallRecord['tool'] =>
  namespace === undefined ? { name } : { name, namespace };

/** Where a call stands: made by the cell (journaled), served by the delegate, answered, delivered. */
type CallState = 'made' | 'served' | 'answered' | 'delivered';

export interface LedgerCall {
  readonly callId: string;
  /** Its tool: an index into the cell's tools (journaled; -1 when not), or as the delegate got it. */
  index: number;
  tool: ToolCallRecord['tool'] | undefined;
  /** Its input: as journaled (JSON text), or as served when the journal has it not. */
  inputJson: string | undefined;
  input: JsonValue | undefined;
  state: CallState;
  /** What the delegate did (SPEC §13's `toolCalls`): still working (`pending`), returned, threw. */
  outcome: ToolCallRecord['outcome'];
  /** The delegate's answer, kept only until the host's journal holds its delivery. */
  answer: CallOutcome | undefined;
  /** The answer's result as the JSON text the cell's isolate takes (kept with `answer`). */
  resultText: string | undefined;
  answerBytes: number;
  /**
   * The delegate asked to pause the cell at this call (a CellInterrupt's payload, JSON text): a
   * cell that runs again elsewhere pauses there in turn.
   */
  pauses: string | undefined;
  /**
   * A recovery found it in doubt (started, no outcome; not idempotent): the cell pauses there
   * (`reason: 'inDoubt'`) wherever it runs again, until it is settled.
   */
  inDoubt: true | undefined;
  /**
   * Made again on a person's decision, after it paused its cell (approved, or retried in doubt):
   * it waits for no decision any more.
   */
  decided: true | undefined;
  /**
   * In doubt after a recovery, its tool idempotent: the cell's run makes it again (InDoubtPlan),
   * and journals it anew; until then a move leaves it out of the replayed journal too.
   */
  remade: true | undefined;
}

/** The delegate got the call, its outcome is not known, and it pauses nothing (yet): in doubt after a recovery. */
export const inDoubt = (call: LedgerCall): boolean =>
  call.state === 'served' && call.outcome === 'pending' && call.pauses === undefined && call.inDoubt !== true;

/**
 * The call's outcome as a lost cell lists it. `agentLost`: the cell was lost with its agent
 * process, after which a call neither answered nor paused at is in doubt.
 */
export function listedOutcome(call: LedgerCall, agentLost: boolean): ToolCallRecord['outcome'] {
  const doubted = call.inDoubt === true || (agentLost && call.pauses === undefined);
  return call.outcome === 'pending' && doubted ? 'inDoubt' : call.outcome;
}

/** The pause the call asks of its cell where it runs again, if any. */
export function pauseOf(call: LedgerCall): QueuedPause | undefined {
  if (call.pauses === undefined && call.inDoubt !== true) return undefined;
  const payload = call.pauses === undefined ? null : (JSON.parse(call.pauses) as JsonValue);
  return call.inDoubt === true ? { callId: call.callId, payload, inDoubt: true } : { callId: call.callId, payload };
}

/** The call's input: as journaled (JSON text), or as served when the journal has it not. */
export const inputOf = (call: LedgerCall): JsonValue | undefined =>
  call.inputJson === undefined
    ? call.input
    : call.inputJson === ''
      ? undefined
      : (JSON.parse(call.inputJson) as JsonValue);

/** A delivery as the journal lists it; a call stands for the answer this client gave it (cell-ledger.ts). */
export const asDelivery = (entry: JournalDelivery | LedgerCall): JournalDelivery =>
  'kind' in entry
    ? entry
    : { kind: 'settle', callId: entry.callId, ok: true, payload: entry.resultText ?? '', errorKind: '' };

/** How many calls the record of a cell without a journal lists (the oldest answered ones go first). */
export const MAX_RECORDED_CALLS = 1_000;

/**
 * A cell's calls in the order the ledger learnt of them, by id too. Without a journal it lists at
 * most MAX_RECORDED_CALLS (bound): the oldest answered ones go, and how many went is `dropped`.
 */
export class CallRecord {
  #calls: LedgerCall[] = [];
  readonly #byId = new Map<string, LedgerCall>();
  /** Calls left out past MAX_RECORDED_CALLS (those before #head, and some after it). */
  #dropped = 0;
  #head = 0;

  get dropped(): number {
    return this.#dropped;
  }

  /** Calls left out before this record was read back (a compacted log says how many). */
  set dropped(count: number) {
    this.#dropped = count;
  }

  /** How many calls it lists. */
  get size(): number {
    return this.#calls.length - this.#head;
  }

  get(callId: string): LedgerCall | undefined {
    return this.#byId.get(callId);
  }

  /**
   * A new call, still pending. Every call has every field from the start (one object shape for
   * all: a field set later does not reshape it).
   */
  add(entry: Pick<LedgerCall, 'callId' | 'index' | 'tool' | 'inputJson' | 'input' | 'state'>): void {
    const call: LedgerCall = {
      callId: entry.callId,
      index: entry.index,
      tool: entry.tool,
      inputJson: entry.inputJson,
      input: entry.input,
      state: entry.state,
      outcome: 'pending',
      answer: undefined,
      resultText: undefined,
      answerBytes: 0,
      pauses: undefined,
      inDoubt: undefined,
      decided: undefined,
      remade: undefined,
    };
    this.#calls.push(call);
    this.#byId.set(call.callId, call);
  }

  /** The calls it lists, oldest first. */
  *[Symbol.iterator](): IterableIterator<LedgerCall> {
    for (let index = this.#head; index < this.#calls.length; index++) yield this.#calls[index] as LedgerCall;
  }

  /** Forgets the calls the cell made that never reached the delegate. */
  dropMade(): void {
    if (!this.#calls.some((call) => call.state === 'made')) return;
    for (const call of this.#calls) if (call.state === 'made') this.#byId.delete(call.callId);
    this.#calls = this.#calls.filter((call) => call.state !== 'made');
  }

  /** Lists at most MAX_RECORDED_CALLS: the oldest answered ones go (a record without a journal). */
  bound(): void {
    while (this.size > MAX_RECORDED_CALLS && this.#dropOldestAnswered());
  }

  /** Drops the oldest answered call (false while every call waits). */
  #dropOldestAnswered(): boolean {
    const calls = this.#calls;
    let index = this.#head;
    // The oldest may wait still (a slow call among fast ones): the oldest answered one after it goes.
    if (calls[index]?.outcome === 'pending') {
      index = calls.findIndex((call, at) => at > this.#head && call.outcome !== 'pending');
      if (index < 0) return false;
    }
    this.#byId.delete((calls[index] as LedgerCall).callId);
    if (index === this.#head) this.#head++;
    else calls.splice(index, 1);
    this.#dropped++;
    // The dropped front is let go in one piece now and then, not one by one.
    if (this.#head >= MAX_RECORDED_CALLS) {
      calls.splice(0, this.#head);
      this.#head = 0;
    }
    return true;
  }
}
