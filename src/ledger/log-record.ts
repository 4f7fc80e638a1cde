// One record of a session's log (SPEC §16, ADR 21): what the ledger writes (session-ledger.ts),
// what an in-process session writes (session-records.ts), and what log-records.ts reads back.
import type { CellLimits } from '../limits.js';
import type { SessionSnapshot } from '../cell/snapshots.js';
import type { CellEvent, CellId, JsonValue, NestedToolCall, SessionStreamEvent } from '../types.js';
import type { PartStart, PartUpdate } from './ledger-parts.js';

/** One record of a session's log. */
export type LogRecord =
  /** The session on a process (its first record, and again after each recovery). */
  | { t: 'session'; options: SessionSnapshot['options'] }
  /** The session lives on a host from now (its commits count from here), with these limits there. */
  | { t: 'attached'; limits?: CellLimits }
  /** A cell was admitted (`limits`: its own); one whose journal is written begins with its start. */
  | { t: 'admitted'; cellId: CellId; limits?: Partial<CellLimits> }
  /** A notification of the cell goes to the delegate (a remote session's). */
  | { t: 'notified'; cellId: CellId }
  /** A part of a cell's journal: what it runs (first), what it consumed since. */
  | { t: 'journal'; cellId: CellId; start?: PartStart; update?: PartUpdate }
  /**
   * A call goes to the delegate (written before it does); `approved`: made on a person's approval
   * (after a crash it is in doubt, never paused for approval again).
   */
  | ({ t: 'started' } & Omit<NestedToolCall, 'kind'>)
  /** A call's outcome (written before the cell takes it): its result's JSON text, or its error. */
  | { t: 'outcome'; cellId: CellId; callId: string; ok: boolean; payload: string; errorKind: string }
  /** The delegate asked to pause the cell at a call (its CellInterrupt's payload). */
  | { t: 'pause'; cellId: CellId; callId: string; payload: JsonValue }
  /**
   * The cell paused (`event`: its interrupted event, without items), or runs again (null); `seen`:
   * how many of its output items were handed out with the pause, all told (a run after a recovery
   * produces none of them again). Logs written before it have none.
   */
  | { t: 'paused'; cellId: CellId; event: CellEvent | null; seen?: number }
  /**
   * The cell can never run again (`why`); its calls follow, the newest a loss report lists, after
   * `dropped` older answered ones (what a compaction keeps of such a cell).
   */
  | { t: 'lost'; cellId: CellId; why: string; dropped: number }
  /** The cell runs again after a recovery (a bound holds how often); `again`: its calls in doubt it makes again. */
  | { t: 'replayed'; cellId: CellId; again?: string[] }
  /** A commit of stored values (`commits`: how many this record stands for, after a compaction). */
  | { t: 'stored'; values: Record<string, string>; commits?: number }
  /**
   * The cell ended: nothing of it is needed any more. `event`: the end an answer handed out
   * (without its items), which the stream tells if it never told the cell's end (`closed`).
   */
  | { t: 'end'; cellId: CellId; event?: CellEvent }
  /** An event of the session's stream (SPEC §16's durable cursor), written before it is handed out. */
  | { t: 'event'; event: SessionStreamEvent };
