// The rules every CodeCellSession keeps the same way, in-process (SessionRuntime) or remote
// (RemoteSession): shutdown runs once and every caller gets the same promise, a session that is
// shutting down refuses new cells, observe() is beginObserve()'s event, a cell id is a
// non-empty string, and a cell has at most one observer (busyObserverError).
import { CodeCellError } from './errors.js';
import type {
  CellEvent,
  CellId,
  CellStreamEvent,
  CodeCellSession,
  ExecuteRequest,
  ObserveMode,
  PendingEvent,
  StartedCell,
} from './types.js';
import { checkCellId } from './validate.js';

export { busyObserverError } from './cell/observer.js';

export abstract class SessionBase implements CodeCellSession {
  #shutdown: Promise<void> | undefined;

  get isAlive(): boolean {
    return this.#shutdown === undefined;
  }

  abstract execute(request: ExecuteRequest, initialObserve?: ObserveMode): Promise<StartedCell>;
  abstract beginObserve(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<PendingEvent>;
  abstract terminate(cellId: CellId): Promise<CellEvent>;
  abstract events(cellId: CellId): AsyncIterable<CellStreamEvent>;
  /** The shutdown itself; shutdown() calls it once. */
  protected abstract shutdownOnce(): Promise<void>;

  /** `signal` (optional) gives up the observation and frees the observer slot when aborted. */
  async observe(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<CellEvent> {
    const { event } = await this.beginObserve(cellId, mode, signal);
    return event;
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.shutdownOnce();
    return this.#shutdown;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  protected get shuttingDown(): boolean {
    return this.#shutdown !== undefined;
  }

  protected assertNotShuttingDown(): void {
    if (this.#shutdown !== undefined) throw new CodeCellError('ERR_SHUTTING_DOWN', 'the session is shutting down');
  }

  /** The cell id, checked: ERR_INVALID_REQUEST unless a non-empty string. */
  protected checkCellId(cellId: unknown): CellId {
    return checkCellId(cellId);
  }
}
