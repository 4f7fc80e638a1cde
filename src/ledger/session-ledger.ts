// What a re-homing client keeps of a remote session to rebuild it on another host (SPEC §13): its
// stored values by commit (stored-history.ts), the highest cell id it has seen (ids continue on the
// next host, never reused), which cells run on the host, and one ledger per open cell
// (cell-ledger.ts). Everything the host sends about them is checked here against this client's
// own figures: a host that breaks one throws BrokeBound (its link treats it as lost). With a store
// (SPEC §16) it writes what it learns there as it learns it (logTo), and a recovery reads that log
// back into a ledger of its own (log-records.ts): in process and over the wire alike.
import { DEFAULT_LIMITS, type CellLimits } from '../limits.js';
import type { PausedCellSnapshot, ReplayableCell } from '../cell/snapshots.js';
import { toJsonText } from '../json.js';
import type {
  CallOutcome,
  CellEvent,
  CellId,
  JsonValue,
  NestedToolCall,
  ToolCallRecord,
  ToolDefinition,
} from '../types.js';
import type { LogRecord } from './log-record.js';
import { CellLedger } from './cell-ledger.js';
import { BrokeBound, type LedgerBudget, type PartStart, type PartUpdate } from './ledger-parts.js';
import { StoredHistory } from './stored-history.js';

/** The limits whose figures bound what this client keeps of a session (its own, never a host's). */
export type LedgerFigures = Pick<CellLimits, 'journalMaxBytes' | 'maxSourceBytes' | 'maxStoredBytes'>;

/** The session's figures: what it was created with, else codecell's defaults. */
export function ledgerFigures(limits: Partial<CellLimits> | undefined): LedgerFigures {
  const { journalMaxBytes, maxSourceBytes, maxStoredBytes } = { ...DEFAULT_LIMITS, ...limits };
  return { journalMaxBytes, maxSourceBytes, maxStoredBytes };
}

/** Where a ledger writes what it learns (a session's SessionLog). */
export interface LedgerLog {
  write(record: string): Promise<void>;
  /** Written with the next write (for a record nothing but what comes after it waits on). */
  later(record: string): Promise<void>;
}

/** A cell lost with its host: how it ends (its calls from the ledger), or nothing known of it. */
export type LostCalls = { toolCalls: ToolCallRecord[]; toolCallsDropped?: number };

export class SessionLedger {
  readonly #figures: LedgerFigures;
  readonly #stored: StoredHistory;
  /** The client's number of the current host's commit 0 (the values the session was created with there). */
  #base = 0;
  /** Commits the current host sent. */
  #hostCommits = 0;
  #lastCellId = 0;
  readonly #cells = new Map<CellId, CellLedger>();
  /** The commit of the stored values each cell started at (kept for it until it is dropped). */
  readonly #startedAt = new Map<CellId, number>();
  /** Cells admitted on the host and not closed there yet. */
  readonly #running = new Set<CellId>();
  /** Cells whose cell/closed came before the client learned of their admission (a fast cell). */
  readonly #closedEarly = new Set<CellId>();
  /** Executes in flight: the stored values' commit pinned for them, and their cells' budgets. */
  readonly #executing = new Set<{ pin: number; budget: LedgerBudget }>();
  /** Cells heard of before their admission (an execute in flight): no more than there are executes. */
  readonly #unadmitted = new Set<CellId>();

  /** The session's own tools (what a start without `tools` runs), and its limits on the current host. */
  readonly #tools: ToolDefinition[];
  #limits: CellLimits | undefined;
  /** With a store: where each record goes, the last one written, and the cells the log has paused. */
  #log: LedgerLog | undefined;
  #written: Promise<void> | undefined;
  readonly #paused = new Set<CellId>();

  constructor(
    figures: LedgerFigures,
    restored?: { storedValues: Record<string, string>; nextCellId: number; pausedCells?: PausedCellSnapshot[] },
    tools: ToolDefinition[] = [],
  ) {
    this.#figures = figures;
    this.#tools = tools;
    this.#stored = new StoredHistory(figures.maxStoredBytes, restored?.storedValues);
    if (restored !== undefined) this.#lastCellId = restored.nextCellId - 1;
    for (const cell of restored?.pausedCells ?? []) {
      this.#open(cell.event.cellId, this.#budget(cell.limits)).restored(cell);
    }
  }

  /** How many of its cells run on the host (admitted, not closed): a hand-off waits for none. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * The session is created (again) on a host: its commits count from the values it was given;
   * `limits`: the session's there (what a start without `limits` runs with).
   */
  attached(limits?: CellLimits): void {
    this.#record(limits === undefined ? { t: 'attached' } : { t: 'attached', limits });
    this.#limits = limits;
    this.#base = this.#stored.commits;
    this.#hostCommits = 0;
  }

  /** What session/create's `restore` takes to rebuild the session. */
  restore(): { storedValues: Record<string, string>; nextCellId: number } {
    // A cell a lost host admitted without saying so (its execute failed) may have reached the delegate.
    let last = this.#lastCellId;
    for (const cellId of this.#unadmitted) last = Math.max(last, Number(cellId));
    return { storedValues: this.#stored.values, nextCellId: last + 1 };
  }

  /** session/stored: a commit of the session's stored values (the keys written, as JSON texts). */
  committed(values: Record<string, string>): void {
    this.#record({ t: 'stored', values });
    if (!this.#stored.commit(values))
      throw new BrokeBound(`stored values past the session's maxStoredBytes (${this.#figures.maxStoredBytes})`);
    this.#hostCommits++;
  }

  /**
   * An execute goes to the host (`limits`: the cell's own): its cell's journal may come before its
   * answer. Returns what to call once it is answered (or failed).
   */
  executing(limits: Partial<CellLimits> | undefined): () => void {
    const entry = { pin: this.#stored.pin(), budget: this.#budget(limits) };
    this.#executing.add(entry);
    return () => {
      this.#executing.delete(entry);
      this.#stored.release(entry.pin);
      // Heard of, never admitted (their executes failed): nothing will come of them here, but
      // their ids were a host's, so the next host continues after them.
      if (this.#executing.size > 0) return;
      for (const cellId of this.#unadmitted) {
        this.cellSeen(cellId);
        this.drop(cellId);
      }
    };
  }

  /** The host admitted the cell (`limits`: the cell's own, if it set any). */
  admitted(cellId: CellId, limits?: Partial<CellLimits>): void {
    this.#record(limits === undefined ? { t: 'admitted', cellId } : { t: 'admitted', cellId, limits });
    this.#unadmitted.delete(cellId);
    this.cellSeen(cellId);
    if (!this.#closedEarly.delete(cellId)) this.#running.add(cellId);
    if (!this.#cells.has(cellId)) this.#open(cellId, this.#budget(limits));
  }

  /** A cell id of the session (admitted, or named by a call): the next host continues after it. */
  cellSeen(cellId: CellId): void {
    const id = Number(cellId);
    if (Number.isSafeInteger(id) && id > this.#lastCellId) this.#lastCellId = id;
  }

  /** The cells whose ledgers are kept (open, or ended unread), in the order they opened. */
  get cellIds(): CellId[] {
    return [...this.#cells.keys()];
  }

  /** The cell's ledger, if it is kept. */
  cell(cellId: CellId): CellLedger | undefined {
    return this.#cells.get(cellId);
  }

  /** cell/journal (or a delegate call's `journal`): what the cell runs, or what it consumed since. */
  journaled(cellId: CellId, start: PartStart | undefined, update: PartUpdate | undefined): void {
    const ledger = this.#cells.get(cellId) ?? this.#expected(cellId);
    // A cell whose end this client has read: nothing is kept of it, nor written (its records may
    // be compacted away already: a part of it alone would name a cell the log never admitted).
    if (ledger === undefined) return;
    // Nothing waits on it but what comes after it in the log: it goes with the next write.
    if (this.#log !== undefined)
      this.#record(
        {
          t: 'journal',
          cellId,
          ...(start === undefined ? {} : { start }),
          ...(update === undefined ? {} : { update }),
        },
        true,
      );
    if (start !== undefined) {
      // Field by field: a host's other fields are not kept (the start goes to the next host as it is).
      // By reference: without its tools or limits, the cell runs the session's.
      const { storedAt, code, filename, toolCallId, tools = this.#tools, limits = this.#limits, seed } = start;
      if (limits === undefined)
        throw new BrokeBound(`cell ${cellId}'s start names the session's limits, which its host did not say`);
      const run = { code, filename, toolCallId, tools, limits, seed };
      if (storedAt !== null && storedAt > this.#hostCommits)
        throw new BrokeBound(`cell ${cellId} started at commit ${storedAt} of ${this.#hostCommits} sent`);
      const commit = storedAt === null ? undefined : this.#base + storedAt;
      ledger.begin({ ...run, stored: commit === undefined ? { values: null } : { commit } });
      if (commit !== undefined) {
        if (this.#stored.reference(commit)) this.#startedAt.set(cellId, commit);
        else ledger.lose('the stored values it started with are no longer kept');
      }
    }
    if (update !== undefined) ledger.update(update);
  }

  /** The delegate is about to serve the cell's call. */
  served(call: NestedToolCall): void {
    (this.#cells.get(call.cellId) ?? this.#expected(call.cellId, false))?.served(call);
    if (this.#log === undefined) return;
    const { cellId, callId, tool, input, idempotencyKey, approved } = call;
    const record = { t: 'started', cellId, callId, tool, input, idempotencyKey } as const;
    this.#record(approved === true ? { ...record, approved } : record);
  }

  settled(cellId: CellId, callId: string, outcome: 'returned' | 'threw'): void {
    this.#cells.get(cellId)?.settled(callId, outcome);
  }

  answered(cellId: CellId, callId: string, answer: CallOutcome, bytes: number, resultText?: string): void {
    // Recorded first: a cell running again elsewhere is sent it once `written` (CellReplays).
    if (this.#log !== undefined) {
      const ok = 'result' in answer;
      const payload = ok ? (resultText ?? (toJsonText(answer.result) || '')) : answer.error;
      this.#record({ t: 'outcome', cellId, callId, ok, payload, errorKind: '' });
    }
    this.#cells.get(cellId)?.answered(callId, answer, bytes, resultText);
  }

  /** The delegate asked to pause the cell at this call (a CellInterrupt; its payload's JSON text). */
  interrupted(cellId: CellId, callId: string, payload: string): void {
    this.#cells.get(cellId)?.interrupted(callId, payload);
    this.#record({ t: 'pause', cellId, callId, payload: JSON.parse(payload) as JsonValue });
  }

  /** A notification of the cell reached the delegate. */
  notified(cellId: CellId): void {
    this.#cells.get(cellId)?.notified();
    this.#record({ t: 'notified', cellId });
  }

  /** An answer about the cell reached this client (its items count as seen). */
  observed(cellId: CellId, event: CellEvent): void {
    const ledger = this.#cells.get(cellId);
    ledger?.itemsSeen(event.items.length);
    ledger?.observed(event);
    // A log keeps whether the cell is paused (not every answer).
    if (event.kind === 'interrupted') {
      this.#paused.add(cellId);
      const seen = ledger?.outputsSeen;
      this.#record({ t: 'paused', cellId, event: { ...event, items: [] }, ...(seen === undefined ? {} : { seen }) });
    } else if (this.#paused.delete(cellId)) this.#record({ t: 'paused', cellId, event: null });
  }

  /**
   * The cell runs again on a new host (or after a recovery): `settle` takes the outcomes it waits
   * for; `again`: calls in doubt its run makes again (InDoubtPlan).
   */
  replaying(
    cellId: CellId,
    settle: ((callId: string, answer: CallOutcome) => void) | undefined,
    again: string[] = [],
  ): void {
    const ledger = this.#cells.get(cellId);
    if (ledger === undefined) return;
    this.#record(again.length === 0 ? { t: 'replayed', cellId } : { t: 'replayed', cellId, again });
    ledger.replaying(settle, again);
  }

  /** The cell runs on its new host (replaying went first): `settle` takes the outcomes it waits for. */
  settleTo(cellId: CellId, settle: (callId: string, answer: CallOutcome) => void): void {
    this.#cells.get(cellId)?.settleTo(settle);
  }

  /** From now on, what the ledger learns is written to `log` too (a session with a store, SPEC §16). */
  logTo(log: LedgerLog): void {
    this.#log = log;
  }

  /** How many of its cells are paused, as its log says (what `store.sessions()` lists). */
  get pausedCount(): number {
    return this.#paused.size;
  }

  /** Resolves once every record written so far is durable (undefined without a log). */
  get written(): Promise<void> | undefined {
    return this.#written;
  }

  /**
   * Writes `record` to the log (`later`: with the next write, SessionLog#later). The callers of
   * each tool call (journaled, served, answered) check for a log first: without a store, no record
   * is built for nothing to write.
   */
  #record(record: LogRecord, later = false): void {
    if (this.#log === undefined) return;
    const text = JSON.stringify(record);
    const written = later ? this.#log.later(text) : this.#log.write(text);
    // A write that fails ends the session (its log says so): nothing waits on it unheard.
    written.catch(() => {});
    this.#written = written;
  }

  /** cell/closed: the cell runs on the host no more (its ledger stays until its end is read). */
  closedOnHost(cellId: CellId): void {
    if (this.#running.delete(cellId)) return;
    this.#closedEarly.add(cellId);
    if (this.#closedEarly.size > 64) this.#closedEarly.delete(this.#closedEarly.values().next().value as CellId);
  }

  /** The cell's end was read (`event`, handed out by an answer), or it is lost: nothing of it is kept. */
  drop(cellId: CellId, event?: CellEvent): void {
    const ledger = this.#cells.get(cellId);
    if (ledger === undefined) return;
    this.#record(event === undefined ? { t: 'end', cellId } : { t: 'end', cellId, event: { ...event, items: [] } });
    this.#paused.delete(cellId);
    this.#cells.delete(cellId);
    this.#unadmitted.delete(cellId);
    const commit = this.#startedAt.get(cellId);
    this.#startedAt.delete(cellId);
    if (commit !== undefined) this.#stored.release(commit);
  }

  /**
   * The cell was lost with its host (`inDoubt`: with its agent process, SPEC §16): its calls as
   * they stand now (`end`: the end handed out of them, which its record keeps); nothing of it is
   * kept after.
   */
  lost(cellId: CellId, inDoubt = false, end?: (calls: LostCalls) => CellEvent): LostCalls {
    const calls = this.#cells.get(cellId)?.lost(inDoubt) ?? { toolCalls: [] };
    this.drop(cellId, end?.(calls));
    this.#running.delete(cellId);
    return calls;
  }

  /** The cell as another host runs it again, or why it cannot. */
  replayable(cellId: CellId): ReplayableCell | string {
    const ledger = this.#cells.get(cellId);
    if (ledger === undefined) return 'this client keeps nothing of it';
    const why = ledger.unreplayable;
    if (why !== undefined) return why;
    const stored = (ledger.start as NonNullable<CellLedger['start']>).stored;
    const values = 'values' in stored ? stored.values : this.#stored.at(stored.commit);
    if (values === undefined) return 'the stored values it started with are no longer kept';
    return ledger.replayable(values) ?? 'its journal is not kept';
  }

  /** A ledger for the cell, kept until its end is read. */
  #open(cellId: CellId, budget: LedgerBudget): CellLedger {
    const ledger = new CellLedger(cellId, budget);
    this.#cells.set(cellId, ledger);
    return ledger;
  }

  /**
   * The ledger of a cell the client has not seen admitted: the cell of an execute in flight (its
   * messages can come before the answer), at most one per execute. Anything else about an unknown
   * cell breaks the protocol (`strict`), or is served without a record.
   */
  #expected(cellId: CellId, strict = true): CellLedger | undefined {
    const id = Number(cellId);
    if (Number.isSafeInteger(id) && id > 0 && id <= this.#lastCellId) return undefined;
    // A host's ids may skip (an admission it refused used one): any new id, one per execute.
    const plausible = /^[1-9]\d*$/.test(cellId) && this.#unadmitted.size < this.#executing.size;
    if (!plausible) {
      if (strict) throw new BrokeBound(`a journal of cell ${cellId}, which this client never saw admitted`);
      return undefined;
    }
    let journalMaxBytes = 0;
    let maxSourceBytes = 0;
    for (const { budget } of this.#executing) {
      journalMaxBytes = Math.max(journalMaxBytes, budget.journalMaxBytes);
      maxSourceBytes = Math.max(maxSourceBytes, budget.maxSourceBytes);
    }
    this.#unadmitted.add(cellId);
    return this.#open(cellId, { journalMaxBytes, maxSourceBytes });
  }

  #budget(limits: Partial<CellLimits> | undefined): LedgerBudget {
    return {
      journalMaxBytes: limits?.journalMaxBytes ?? this.#figures.journalMaxBytes,
      maxSourceBytes: limits?.maxSourceBytes ?? this.#figures.maxSourceBytes,
    };
  }
}
