// What a session gives each of its cells, and what it hears back from them.
import type { CellLimits } from '../limits.js';
import type { CellEvent, CellId, CellStreamEvent, Logger, SessionRuntimeDelegate } from '../types.js';
import type { Deterministic } from './delivery-order.js';
import type { CellJournal } from './journal.js';
import type { TraceSpan } from '../tracing.js';
import type { CellTool, WriteAhead } from './tool-calls.js';

export interface CellOptions {
  id: CellId;
  /** Its session's key: the first part of its calls' idempotency keys. */
  sessionKey: string;
  toolCallId: string;
  tools: readonly CellTool[];
  limits: CellLimits;
  delegate: SessionRuntimeDelegate;
  callbackAbortDeadlineMs: number;
  logger: Logger;
  /** The cell's span (SPEC §14), when it is traced: its calls' spans go under it. */
  span?: TraceSpan | undefined;
  /** A journal to go on from (a paused cell restored from a snapshot); else a new one. */
  journal?: CellJournal;
  /** A cell run deterministically (SessionRuntimeOptions.deterministic). */
  deterministic?: Deterministic | undefined;
  /**
   * True when a host mirrors the cell's journal to its client (which may run it again on another
   * host): then its sandbox never waits for a delivery (ADR 23).
   */
  mirrored?: () => boolean;
  /** A session with a store: what the cell's calls wait for (SPEC §16). */
  writeAhead?: WriteAhead | undefined;
  /** Commits the cell's store() writes to the session. */
  commitStore(writes: ReadonlyMap<string, string>): void;
  /** Taps the cell's stream events (SPEC §7). */
  /** `size`: about how many bytes the event holds, when the caller knows (see CellStreams). */
  emit(event: CellStreamEvent, size?: number): void;
  /**
   * The outcome is about to be committed, as `event` (its journal is whole): with a store, its end
   * is written now, so no answer can tell it before it is durable.
   */
  onEnd?(event: CellEvent): void;
  /** The outcome is committed (its slot is free); `unread`: nobody has taken the terminal event. */
  onCommit(unread: boolean): void;
  /** A CellInterrupt paused the cell (`true`), or it runs again (resumeCell). */
  onPause(paused: boolean): void;
  /** The unread terminal event was taken: the cell's id is forgotten. */
  onTaken(): void;
  /** cellClosed returned: nothing of the cell runs any more. */
  onClosed(): void;
}

/**
 * Whether a cell's sandbox may wait for a delivery after a call (ADR 23): not where its journal
 * leaves this process without the record of which deliveries the waits took (a store, a host's
 * client) or on an engine, where a run again elsewhere would not answer its asks as this one's.
 */
export const mayWait = ({ deterministic, writeAhead, mirrored }: CellOptions): boolean =>
  deterministic === undefined && writeAhead === undefined && mirrored?.() !== true;
