// The session interface (SPEC §3): what a SessionRuntime in this process and a RemoteSession on
// codecell-host both are, so an agent's code, the adapters and the tools take either.
import type {
  CellAnswer,
  CellEvent,
  CellId,
  CellStreamEvent,
  EventsOptions,
  ExecuteRequest,
  HandOffStream,
  ObserveMode,
  OpenCell,
  PendingEvent,
  SessionEventsOptions,
  SessionStreamEvent,
  StartedCell,
} from './types.js';

/** The session interface shared by the in-process runtime and the out-of-process client. */
export interface CodeCellSession {
  /**
   * The session's key: chosen at its creation (or given as `key`), kept by its snapshots and
   * across hosts; its calls' idempotency keys begin with it.
   */
  readonly key: string;
  readonly isAlive: boolean;
  execute(request: ExecuteRequest, initialObserve?: ObserveMode): Promise<StartedCell>;
  /** `signal`, when given, abandons the observation and frees the observer slot. */
  observe(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<CellEvent>;
  beginObserve(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<PendingEvent>;
  terminate(cellId: CellId): Promise<CellEvent>;
  /**
   * Runs a cell a CellInterrupt paused again, from its journal, with `answer` as the outcome of
   * the call it paused at; resolves with the cell's next observation (SPEC §13).
   */
  resumeCell(cellId: CellId, answer: CellAnswer, observe?: ObserveMode): Promise<CellEvent>;
  shutdown(): Promise<void>;
  /**
   * The cells the session still has, oldest first: running, paused (at which call, and why) or
   * ended with an end nobody read yet — what an agent that recovered a session looks at first.
   */
  cells(): OpenCell[];
  /** Every cell's events (with its id), admissions included, in the order they happen. */
  events(options?: SessionEventsOptions): HandOffStream<SessionStreamEvent>;
  /** One cell's events (SPEC §7); see EventsOptions for where the stream begins. */
  events(cellId: CellId, options?: EventsOptions): HandOffStream<CellStreamEvent>;
  [Symbol.asyncDispose](): Promise<void>;
}
