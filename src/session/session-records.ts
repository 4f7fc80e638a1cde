// What a SessionRuntime with a store records there (SPEC §16): its options first; each cell's
// journal in parts, taken where codecell-host takes them for its client (with each call, at a
// pause); a call's `started` record before its delegate runs and its outcome before the cell takes
// it (WriteAhead); pauses and stored values as they happen; a cell's end with its last journal part
// when it is committed. Every answer that tells any of it passes the session's AnswerGate after
// its records. A session without a store has none of this, and pays nothing for it.
import { toJsonText } from '../json.js';
import type { WriteAhead } from '../cell/tool-calls.js';
import type { CodeCellStore, StoreLease } from '../store/store.js';
import { PROCESS_OWNER, SessionLog } from '../store/session-log.js';
import { AnswerGate } from '../store/answer-gate.js';
import type {
  CellEvent,
  CellId,
  JsonValue,
  Logger,
  NestedToolCall,
  SessionRuntimeDelegate,
  SessionStreamEvent,
} from '../types.js';
import type { HostedCells, JournalTaken } from './hosted-cells.js';
import { cursorAfter, type LogRecord, type ReadLog } from '../ledger/log-records.js';
import { compactLog } from '../ledger/log-compaction.js';
import type { SessionCursorOptions } from '../streams/session-cursor.js';
import type { StoreOptions } from './options.js';
import type { SessionSnapshot } from './snapshot.js';

/** The lease and log a recovery took for the session it makes. */
export interface Adopted {
  lease: StoreLease;
  read: ReadLog;
}

/**
 * A session's durability when it has a store (undefined without): under a lease created for it,
 * or the one a recovery adopted (`adopted`).
 */
export function durabilityOf(
  kept: StoreOptions | undefined,
  key: string,
  adopted: Adopted | undefined,
  options: SessionSnapshot['options'],
  hosted: () => HostedCells,
  session: SessionPort,
): SessionRecords | undefined {
  if (kept === undefined) return undefined;
  const { store, leaseMs, metadata } = kept;
  const sentAt = performance.now();
  const from =
    adopted === undefined
      ? { lease: store.create(key, PROCESS_OWNER, leaseMs, metadata), held: 0, sentAt }
      : { lease: Promise.resolve(adopted.lease), held: adopted.read.records };
  return new SessionRecords(store, key, leaseMs, from, options, hosted, session);
}

/** What a session's durability needs of its session. */
export interface SessionPort {
  /** The store can keep the session no more: it ends. */
  lost(error: Error): void;
  readonly logger: Logger;
  /** The id its next cell gets (its key keeps it when it ends). */
  nextCellId(): number;
}

/** Per open cell: how far its journal is written (JournalTaken), and whether its end is. */
interface Written extends JournalTaken {
  ended?: true;
}

export class SessionRecords implements WriteAhead {
  readonly log: SessionLog;
  /** What every answer about the session's cells passes before it leaves (SPEC §16's one gate). */
  readonly gate: AnswerGate;
  readonly #hosted: () => HostedCells;
  readonly #cells = new Map<CellId, Written>();
  readonly #paused = new Set<CellId>();

  /**
   * `from.lease`: the session's, being created (or adopted by a recovery, whose log held
   * `from.held` records); `lost`: the log can write no more (another process adopted the
   * session, or the store failed for good) — the session ends.
   */
  constructor(
    store: CodeCellStore,
    key: string,
    leaseMs: number,
    from: { lease: Promise<StoreLease>; held: number; sentAt?: number },
    options: SessionSnapshot['options'],
    hosted: () => HostedCells,
    { lost, logger, nextCellId }: SessionPort,
  ) {
    this.#hosted = hosted;
    this.log = new SessionLog(store, key, leaseMs, from, {
      compact: (records) => compactLog(records, new Set(this.#cells.keys())),
      summary: () => ({ openCells: this.#cells.size, pausedCells: this.#paused.size }),
      lost,
      logger,
      nextCellId,
    });
    this.gate = new AnswerGate(this.log, () => this.log.failure);
    this.#write(undefined, { t: 'session', options });
  }

  /**
   * `delegate`, its calls written ahead (a call made outside a cell's run: approved — its record
   * says so, SPEC §16 — or retried).
   */
  aheadOf(delegate: SessionRuntimeDelegate): Pick<SessionRuntimeDelegate, 'invokeTool'> {
    return {
      invokeTool: (call, signal) =>
        this.started(call).then(() => delegate.invokeTool({ ...call, epoch: this.epoch as number }, signal)),
    };
  }

  /** The fencing epoch of this process's lease, once held: what each call carries (SPEC §16). */
  get epoch(): number | undefined {
    return this.log.heldEpoch;
  }

  /** What hears each commit of stored values: this, then `committed` (the session's own option). */
  storing(
    committed: ((written: Record<string, string>) => void) | undefined,
  ): (written: Record<string, string>) => void {
    return (written) => {
      this.stored(written);
      committed?.(written);
    };
  }

  /**
   * Resolves once the session holds its lease (rejects when it could not be created): with the
   * id its first cell gets when its key had a session before (ids go on from that one's).
   */
  async ready(): Promise<number | undefined> {
    return (await this.log.lease()).nextCellId;
  }

  /** A cell was admitted: resolves once what it runs is durable (its id is an acknowledgement). */
  admitted(cellId: CellId): Promise<void> {
    this.#write(cellId);
    // A cell that keeps no journal is named all the same: its calls are recorded as its own.
    if (this.#cells.get(cellId)?.mark === null) this.#write(cellId, { t: 'admitted', cellId }, false);
    return this.gate.after();
  }

  started(call: NestedToolCall): Promise<void> {
    const { cellId, callId, tool, input, idempotencyKey, approved } = call;
    const record = { t: 'started', cellId, callId, tool, input, idempotencyKey } as const;
    this.#write(cellId, approved === true ? { ...record, approved } : record);
    return this.gate.beforeCall();
  }

  answered(cellId: CellId, callId: string, ok: boolean, payload: string, errorKind: string): Promise<void> {
    this.#write(cellId, { t: 'outcome', cellId, callId, ok, payload, errorKind });
    return this.gate.after();
  }

  notifying(cellId: CellId): Promise<void> {
    this.#write(cellId);
    return this.gate.after();
  }

  /** The delegate asked to pause the cell at the call: written now, told by the pause's answer (handOut). */
  pauses(cellId: CellId, callId: string, payload: unknown): void {
    let json: JsonValue;
    try {
      json = JSON.parse(toJsonText(payload) || 'null') as JsonValue;
    } catch {
      json = null;
    }
    this.#write(cellId, { t: 'pause', cellId, callId, payload: json });
  }

  /**
   * The cell paused with `event` — its answer hands out every output item the cell made so far,
   * `seen` — or runs again (null): written now, told by the answers after it.
   */
  paused(cellId: CellId, event: CellEvent | null, seen?: number): void {
    if (event === null) this.#paused.delete(cellId);
    else this.#paused.add(cellId);
    if (event === null) return this.#write(cellId, { t: 'paused', cellId, event: null });
    const record = { t: 'paused' as const, cellId, event: { ...event, items: [] } };
    this.#write(cellId, seen === undefined ? record : { ...record, seen });
  }

  /**
   * The cell's outcome is committed as `event`: its journal's last part and its end (with the
   * event) are written now — before any answer can tell it (handOut) — so a recovery never runs
   * again, or ends otherwise, a cell whose end was handed out.
   */
  ends(cellId: CellId, event: CellEvent): void {
    const written = this.#cells.get(cellId);
    if (written?.ended === true) return;
    this.#write(cellId, { t: 'end', cellId, event: { ...event, items: [] } });
    (this.#cells.get(cellId) as Written).ended = true;
  }

  /**
   * An answer about the cell (an observation, terminate's, resumeCell's) leaves once what it
   * reports is durable: the cell's journal up to it (a pause's records, its end: written before).
   */
  handOut(cellId: CellId, event: CellEvent): CellEvent | Promise<CellEvent> {
    const written = this.#cells.get(cellId);
    if (written !== undefined && written.ended !== true) this.#write(cellId);
    return this.gate.pass(event);
  }

  /** A recovery ends the cell here (it cannot run again): its records go once it ended. */
  adopting(cellId: CellId): void {
    this.#cells.set(cellId, { mark: null });
  }

  /** A recovery runs the cell again (its log counts how often), making `again` again (InDoubtPlan). */
  replayed(cellId: CellId, again: string[]): Promise<void> {
    // Not here yet: its journal's parts begin once it runs (after the part its log has).
    this.#write(cellId, again.length === 0 ? { t: 'replayed', cellId } : { t: 'replayed', cellId, again }, false);
    return this.gate.after();
  }

  /** A commit of stored values (the keys written, as JSON texts): told by the cell's end after it. */
  stored(values: Record<string, string>): void {
    this.#write(undefined, { t: 'stored', values });
  }

  /** The session stream's numbering: written here, and (`read`: a recovered session's log) going on from it. */
  cursor(read: ReadLog | undefined): SessionCursorOptions {
    return cursorAfter(
      read,
      (event) => this.event(event),
      () => this.log.confirm(),
    );
  }

  /**
   * An event of the session's stream, handed out once this resolves: written with its cell's
   * journal so far, so a replay after a recovery tells nothing again that the stream told.
   */
  event(event: SessionStreamEvent): Promise<void> {
    const named = 'cellId' in event && event.cellId !== '' ? event.cellId : undefined;
    // A cell's end has nothing after it to replay: no part, and no record of a cell no longer open.
    const closed = event.type === 'closed';
    const cellId = closed && named !== undefined && !this.#cells.has(named) ? undefined : named;
    // An admission comes before the cell runs: its journal begins with the cell's next record.
    this.#write(cellId, { t: 'event', event }, event.type !== 'admitted' && !closed, true);
    return this.gate.after(true);
  }

  /** The cell closed: its records can go (its end is written, if no answer wrote it). */
  ended(cellId: CellId): void {
    const written = this.#cells.get(cellId);
    if (written === undefined) return;
    if (written.ended !== true) this.#write(undefined, { t: 'end', cellId });
    this.#cells.delete(cellId);
    this.#paused.delete(cellId);
  }

  /**
   * Writes the cell's journal since it was last written (if it gained anything; `withPart`), then
   * `record` (`later`: with the next write, SessionLog#later). What waits on it passes the gate;
   * a write that fails ends the session (the log says so).
   */
  #write(cellId: CellId | undefined, record?: LogRecord, withPart = true, later = false): void {
    const texts: string[] = [];
    if (cellId !== undefined) {
      let written = this.#cells.get(cellId);
      if (written === undefined) this.#cells.set(cellId, (written = { mark: undefined }));
      const part = withPart ? this.#part(cellId, written) : undefined;
      if (part !== undefined) texts.push(JSON.stringify(part));
    }
    if (record !== undefined) texts.push(JSON.stringify(record));
    if (texts.length === 0) return;
    void (later ? this.log.later(...texts) : this.log.write(...texts));
  }

  /** The cell's journal since `written.mark` (and, the first time, what it runs), as a record. */
  #part(cellId: CellId, written: Written): LogRecord | undefined {
    const journal = this.#hosted().cellJournal(cellId, written);
    if (journal === undefined) return undefined;
    const { start, update } = journal;
    return {
      t: 'journal',
      cellId,
      ...(start === undefined ? {} : { start }),
      ...(update === undefined ? {} : { update }),
    };
  }
}
