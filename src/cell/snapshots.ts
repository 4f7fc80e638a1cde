// A session and its cells as plain JSON (SPEC §13): a suspended session's snapshot, a cell paused
// in it, a cell sent to run again elsewhere (from a client's ledger, or a store's log), and what a
// host's client learns of a cell first. Types only: session/snapshot.ts checks what comes in.
import type { CellLimits } from '../limits.js';
import type { Deterministic } from './delivery-order.js';
import type { JournalDelivery, JournalSnapshot } from './journal.js';
import type { CellEvent, CellId, JsonValue, ToolDefinition } from '../types.js';

/** What `suspend()` returns and `resume` takes: plain JSON, versioned. */
export interface SessionSnapshot {
  version: 1;
  /** The session's options as it was created with them (no functions: tools are definitions). */
  options: {
    tools?: ToolDefinition[];
    limits?: Partial<CellLimits>;
    storedValues?: 'enabled' | 'disabled';
    callbackAbortDeadlineMs?: number;
    /** The session's key (its calls' idempotency keys begin with it). */
    key?: string;
    /** Its cells run deterministically (SessionRuntimeOptions.deterministic). */
    deterministic?: Deterministic;
  };
  /** The stored values as of the last commit: each key's value as JSON text. */
  storedValues: Record<string, string>;
  /** The id the session's next cell gets: ids continue, never reused. */
  nextCellId: number;
  /** Cells a CellInterrupt paused: resumeCell runs them from their journal in the resumed session. */
  pausedCells?: PausedCellSnapshot[];
}

/** A paused cell in a snapshot: what it runs and with what, its journal, and its interrupted event. */
export interface PausedCellSnapshot {
  /** The cell's code as it ran (TypeScript types already stripped), and its file name. */
  code: string;
  filename: string;
  /** The exec call the cell's notifications name. */
  toolCallId: string;
  tools: ToolDefinition[];
  limits: CellLimits;
  /** The stored values the cell started with (null: the session has none). */
  storedValues: Record<string, string> | null;
  journal: JournalSnapshot;
  /** Outcomes of its calls that arrived while it was paused, for its next run. */
  held: JournalDelivery[];
  /** Its interrupted event (with the items no observer took yet). */
  event: Extract<CellEvent, { kind: 'interrupted' }>;
  /**
   * Calls that asked to pause it too, in turn: it pauses at each once it runs again and waits
   * (`inDoubt`: a call a recovery found started with no outcome, SPEC §16).
   */
  queued?: { callId: string; payload: JsonValue; inDoubt?: true }[];
}

/**
 * A running cell as a host's client keeps it (SessionRuntime#cellJournal), sent to another host
 * when its own was lost (replayCell): what it runs and with what, its journal as far as the client
 * saw its effects, and its calls still in flight there (their outcomes come by settleCall).
 */
export interface ReplayableCell extends Omit<PausedCellSnapshot, 'held' | 'event'> {
  /** Its id in its session (ids continue on the new host). */
  cellId: CellId;
  /** Calls of its journal still in flight at the client: their outcomes come by settleCall. */
  outstanding: string[];
  /** It was paused by a CellInterrupt: it waits here, paused, for resumeCell (its interrupted event). */
  paused?: Extract<CellEvent, { kind: 'interrupted' }>;
  /** With `paused`: the outcomes of its calls that came while it was paused (a snapshot's `held`). */
  held?: JournalDelivery[];
  /**
   * Calls its run makes again (left out of its journal: in doubt after a recovery, of idempotent
   * tools) that a person approved: they go to the delegate marked approved, not asked again.
   */
  approved?: string[];
}

/**
 * What a host's client learns of a running cell first: what it runs, its journal's seed, and the
 * commit of the session's stored values it started with (`storedAt`: their number among the
 * commits this host sent, session/stored; the values as the session began are 0, null: the session
 * has none) — the client has those values already, so they never cross again.
 */
export type ReplayStart = Omit<PausedCellSnapshot, 'held' | 'event' | 'journal' | 'storedValues'> & {
  seed: number;
  storedAt: number | null;
};
