// RemoteSession: a session of codecell-host behind the same CodeCellSession interface as the
// in-process SessionRuntime.
import {
  CodeCellError,
  DEFAULT_CALLBACK_ABORT_DEADLINE_MS,
  type CellEvent,
  type CellId,
  type CellLimits,
  type CellStreamEvent,
  type ExecuteRequest,
  type ObserveMode,
  type PendingEvent,
  type SessionRuntimeDelegate,
  type StartedCell,
  type ToolDefinition,
} from '../src/index.js';
import { busyObserverError, CellStreams, Deadline, messageOf, SessionBase } from '../src/internal.js';
import { Methods, type CellExecuteResult, type SessionId } from './protocol.js';
import type { HostLink, Inbound } from './link.js';

export interface RemoteSessionOptions {
  tools?: ToolDefinition[];
  limits?: Partial<CellLimits>;
  storedValues?: 'enabled' | 'disabled';
  /** Runs as the session's first cell while the session is being created (SPEC §8). */
  setupSource?: string;
}

/** A session of codecell-host, with the same interface as SessionRuntime. */
export class RemoteSession extends SessionBase {
  readonly sessionId: SessionId;
  /** The setup cell's first event, when the session was created with `setupSource`. */
  readonly setupEvent: CellEvent | undefined;
  readonly #link: HostLink;
  readonly #delegate: SessionRuntimeDelegate;
  readonly #streams: CellStreams;
  readonly #observing = new Set<CellId>();
  #hostDead = false;
  /** The delegate's cellClosed calls still running. */
  readonly #cellsClosing = new Set<Promise<void>>();

  constructor(link: HostLink, sessionId: SessionId, delegate: SessionRuntimeDelegate, setupEvent: CellEvent | undefined) {
    super();
    this.#link = link;
    this.sessionId = sessionId;
    this.#delegate = delegate;
    this.setupEvent = setupEvent;
    this.#streams = new CellStreams({ logger: link.logger, retainClosed: 64 });
  }

  override get isAlive(): boolean {
    return super.isAlive && !this.#hostDead;
  }

  async execute(request: ExecuteRequest, initialObserve?: ObserveMode): Promise<StartedCell> {
    this.#assertUsable();
    const guard = this.#streams.begin();
    let result: CellExecuteResult;
    try {
      result = await this.#link.request(Methods.cellExecute, { sessionId: this.sessionId, request, observe: initialObserve });
    } catch (error) {
      guard.release();
      throw error;
    }
    this.#streams.track(result.cellId, guard);
    return { cellId: result.cellId, initialEvent: Promise.resolve(result.event) };
  }

  async beginObserve(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<PendingEvent> {
    this.#assertCellUsable(cellId);
    // Every observer of this session's cells goes through this client, so busy is known here.
    if (this.#observing.has(cellId)) throw busyObserverError(cellId);
    this.#observing.add(cellId);
    const event = this.#link
      .request(Methods.cellObserve, { sessionId: this.sessionId, cellId, mode }, signal)
      .finally(() => this.#observing.delete(cellId));
    return { event };
  }

  async terminate(cellId: CellId): Promise<CellEvent> {
    this.#assertCellUsable(cellId);
    return this.#link.request(Methods.cellTerminate, { sessionId: this.sessionId, cellId });
  }

  protected async shutdownOnce(): Promise<void> {
    try {
      if (!this.#hostDead) await this.#link.request(Methods.sessionShutdown, { sessionId: this.sessionId });
    } catch (error) {
      if (!(error instanceof CodeCellError && error.code === 'ERR_HOST_EXITED')) throw error;
    } finally {
      this.#streams.endAll();
      this.#link.forget(this.sessionId);
    }
    // Like the in-process session: cellClosed calls already running are waited for, within the
    // deadline of the callbacks.
    if (this.#cellsClosing.size > 0) {
      const deadline = new Deadline(DEFAULT_CALLBACK_ABORT_DEADLINE_MS);
      await Promise.race([Promise.all(this.#cellsClosing), deadline.reached]);
      deadline.clear();
    }
  }

  events(cellId: CellId): AsyncIterable<CellStreamEvent> {
    return this.#streams.subscribe(cellId);
  }

  // --- used by HostLink ---

  beginCell(): ReturnType<CellStreams['begin']> {
    return this.#streams.begin();
  }

  trackCell(cellId: CellId, guard: ReturnType<CellStreams['begin']>): void {
    this.#streams.track(cellId, guard);
  }

  receive(entry: Inbound): void {
    if (entry.type === 'request') {
      this.#link.serve(this.#delegate, entry.message);
      return;
    }
    const message = entry.message;
    if (message.type === 'event') {
      this.#streams.emit(message.params.cellId, message.params.event);
    } else {
      const closing = Promise.resolve()
        .then(() => this.#delegate.cellClosed?.(message.params.cellId))
        .catch((error: unknown) => this.#link.logger.warn(`codecell: cellClosed(${message.params.cellId}) threw: ${messageOf(error)}`))
        .finally(() => this.#cellsClosing.delete(closing));
      this.#cellsClosing.add(closing);
    }
  }

  hostDied(): void {
    this.#hostDead = true;
    this.#streams.endAll();
  }

  #assertUsable(): void {
    if (this.#hostDead) throw new CodeCellError('ERR_HOST_EXITED', 'codecell-host of this session has exited');
    this.assertNotShuttingDown();
  }

  #assertCellUsable(cellId: unknown): void {
    this.checkCellId(cellId);
    if (this.#hostDead) throw new CodeCellError('ERR_MISSING_CELL', `unknown cell ${cellId} (its host has exited)`);
  }
}
