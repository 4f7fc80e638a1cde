// A suspended session (SPEC §13): plain JSON that any process can resume, in-process or on any
// codecell-host. It holds what a session's state is — its options, its stored values as of its
// last commit, the id its next cell gets, and its cells paused by a CellInterrupt (each with its
// journal) — and nothing that is not data (no delegate).
import { invalidRequest } from '../errors.js';
import { byteLength } from '../json.js';
import type { CellLimits } from '../limits.js';
import type { JournalDelivery, JournalSnapshot } from '../cell/journal.js';
import type { CellEvent, CellId, JsonValue, ToolDefinition } from '../types.js';

/** The snapshot format this codecell writes and reads. */
export const SNAPSHOT_VERSION = 1;

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

const OPTION_KEYS = new Set(['tools', 'limits', 'storedValues', 'callbackAbortDeadlineMs', 'key']);

const bad = (why: string): never => {
  throw invalidRequest(`cannot resume the session: ${why}`);
};

/**
 * The snapshot, checked, and the bytes of its stored values: ERR_INVALID_REQUEST saying why when
 * it is malformed or of another version. Its options are checked by the session made from it, as
 * any session's are, and its stored values against that session's bound (checkStoredBytes).
 */
export function checkSnapshot(snapshot: unknown): { snapshot: SessionSnapshot; storedBytes: number } {
  if (snapshot === null || typeof snapshot !== 'object' || Array.isArray(snapshot))
    return bad('the snapshot must be an object (what suspend() returned)');
  const { version, options, storedValues, nextCellId, pausedCells } = snapshot as Record<string, unknown>;
  if (pausedCells !== undefined && !Array.isArray(pausedCells)) return bad('snapshot.pausedCells must be an array');
  if (version !== SNAPSHOT_VERSION)
    return bad(`snapshot version ${JSON.stringify(version)} is not supported (this codecell reads version 1)`);
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    return bad('snapshot.options must be an object');
  const unknown = Object.keys(options).find((key) => !OPTION_KEYS.has(key));
  if (unknown !== undefined) return bad(`snapshot.options.${unknown} is not a session option a snapshot holds`);
  if (!Number.isSafeInteger(nextCellId) || (nextCellId as number) < 1)
    return bad('snapshot.nextCellId must be a positive integer');
  if (storedValues === null || typeof storedValues !== 'object' || Array.isArray(storedValues))
    return bad('snapshot.storedValues must be an object of JSON texts');
  let bytes = 0;
  for (const [key, text] of Object.entries(storedValues)) {
    if (typeof text !== 'string') return bad(`snapshot.storedValues.${key} must be a JSON text`);
    try {
      JSON.parse(text);
    } catch {
      return bad(`snapshot.storedValues.${key} is not valid JSON`);
    }
    bytes += byteLength(key) + byteLength(text);
  }
  return { snapshot: snapshot as SessionSnapshot, storedBytes: bytes };
}

/** Refuses stored values the resumed session could not hold. */
export function checkStoredBytes(bytes: number, maxStoredBytes: number, enabled: boolean): void {
  if (bytes > maxStoredBytes) bad(`its stored values are ${bytes} bytes, over maxStoredBytes (${maxStoredBytes})`);
  if (bytes > 0 && !enabled) bad('it has stored values, and the session it would make has storedValues disabled');
}

/** What a snapshot keeps of a session's options: their JSON, the defined ones only. */
export function snapshotOptions(options: SessionSnapshot['options']): SessionSnapshot['options'] {
  const kept: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined) kept[key] = JSON.parse(JSON.stringify(value));
  }
  return kept as SessionSnapshot['options'];
}
