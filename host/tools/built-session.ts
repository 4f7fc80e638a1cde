// What SessionBuilder.start() resolves with: the session's interface over the session underneath,
// whose shutdown also closes the session's MCP servers.
import type {
  CellAnswer,
  CellEvent,
  CellId,
  CellStreamEvent,
  CodeCellSession,
  EventsOptions,
  ExecuteRequest,
  HandOffStream,
  ObserveMode,
  OpenCell,
  PendingEvent,
  SessionStreamEvent,
  StartedCell,
  ToolDefinition,
} from '../../src/index.js';
import { SessionBase } from '../../src/internal.js';

/** A session started by SessionBuilder: the session's interface; shutdown also closes its MCP servers. */
export interface BuiltSession extends CodeCellSession {
  /** The session underneath (a SessionRuntime, or a RemoteSession of HostClient). */
  readonly session: CodeCellSession;
  /** Every tool of the session, from all its sources. */
  readonly tools: readonly ToolDefinition[];
  /** The setup cell's first event (withSetup). */
  readonly setupEvent: CellEvent | undefined;
}

/** BuiltSession over the session underneath. */
export class ComposedSession extends SessionBase implements BuiltSession {
  /** The session underneath (a SessionRuntime, or a RemoteSession of HostClient). */
  readonly session: CodeCellSession;
  /** Every tool of the session, from all its sources. */
  readonly tools: readonly ToolDefinition[];
  /** The setup cell's first event (withSetup). */
  readonly setupEvent: CellEvent | undefined;
  readonly #close: () => Promise<void>;

  constructor(
    session: CodeCellSession,
    tools: ToolDefinition[],
    setupEvent: CellEvent | undefined,
    close: () => Promise<void>,
  ) {
    super();
    this.session = session;
    this.tools = tools;
    this.setupEvent = setupEvent;
    this.#close = close;
  }

  get key(): string {
    return this.session.key;
  }

  override get isAlive(): boolean {
    return super.isAlive && this.session.isAlive;
  }

  execute(request: ExecuteRequest, initialObserve?: ObserveMode): Promise<StartedCell> {
    return this.session.execute(request, initialObserve);
  }

  beginObserve(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<PendingEvent> {
    return this.session.beginObserve(cellId, mode, signal);
  }

  terminate(cellId: CellId): Promise<CellEvent> {
    return this.session.terminate(cellId);
  }

  cells(): OpenCell[] {
    return this.session.cells();
  }

  resumeCell(cellId: CellId, answer: CellAnswer, observe?: ObserveMode): Promise<CellEvent> {
    return this.session.resumeCell(cellId, answer, observe);
  }

  protected sessionEvents(after: number | undefined): HandOffStream<SessionStreamEvent> {
    return this.session.events(after === undefined ? {} : { after });
  }

  protected cellEvents(cellId: CellId, options: EventsOptions): HandOffStream<CellStreamEvent> {
    return this.session.events(cellId, options);
  }

  /** Shuts the session down, then closes its MCP servers. */
  protected async shutdownOnce(): Promise<void> {
    try {
      await this.session.shutdown();
    } finally {
      await this.#close();
    }
  }
}
