// host/tools/ — tool sources: SessionBuilder (this file), MCP servers as tool sources
// (mcp-tools.ts, the only importer of the MCP SDK's client) and tool-input checks (tool-input.ts).
// It imports src/ and client/ (a type); cli, adapters and the entry points may import it.
//
// SessionBuilder: how an agent core sets a session up (the ACP session builder is the model):
// tool sources (its own tools with a delegate, MCP servers per session), limits and a setup cell,
// then start() — in this process (SessionRuntime) or on codecell-host (HostClient) alike. One
// routing delegate sends each tool call to its source, after checking its input.
import {
  CodeCellError,
  SessionRuntime,
  toolIdentifier,
  type CellEvent,
  type CellId,
  type CellLimits,
  type CellNotification,
  type CellStreamEvent,
  type CodeCellSession,
  type EventsOptions,
  type ExecuteRequest,
  type HandOffStream,
  type JsonValue,
  type Logger,
  type NestedToolCall,
  type ObserveMode,
  type PendingEvent,
  type SessionRuntimeDelegate,
  type SessionStreamEvent,
  type StartedCell,
  type ToolDefinition,
} from '../../src/index.js';
import { consoleLogger, messageOf, SessionBase } from '../../src/internal.js';
import type { HostClient } from '../client/client.js';
import { DEFAULT_SETUP_TIMEOUT_MS, setupTimedOut } from '../client/remote-session.js';
import { untilAborted } from '../wire/jsonrpc.js';
import type { McpServerConfig } from './mcp-tools.js';
import type { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolInputChecks } from './tool-input.js';

export type { McpServerConfig, McpHttpServer, McpStdioServer } from './mcp-tools.js';

/** The delegate of a `withTools` source: its tool calls, and (optionally) the cells' notifications. */
export interface ToolSource {
  invokeTool(call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined>;
  notify?(notification: CellNotification, signal: AbortSignal): Promise<void>;
  cellClosed?(cellId: CellId): void | Promise<void>;
}

/** A tool of a `withTools` source; `validateInput: false` skips its inputSchema check. */
export type SourceTool = ToolDefinition & { validateInput?: boolean };

export interface SessionBuilderOptions {
  /** Start the session on this host (default: a SessionRuntime in this process). */
  host?: HostClient;
  logger?: Logger;
  storedValues?: 'enabled' | 'disabled';
  callbackAbortDeadlineMs?: number;
}

interface Route {
  readonly source: string;
  readonly validate: boolean;
  invoke(call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined>;
}

const NAMESPACE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class SessionBuilder {
  readonly #options: SessionBuilderOptions;
  readonly #toolSources: { tools: SourceTool[]; delegate: ToolSource }[] = [];
  readonly #mcpServers: McpServerConfig[] = [];
  #limits: Partial<CellLimits> | undefined;
  #setup: string | undefined;

  constructor(options: SessionBuilderOptions = {}) {
    if (options === null || typeof options !== 'object')
      throw new CodeCellError('ERR_INVALID_REQUEST', 'SessionBuilder options must be an object');
    this.#options = options;
  }

  /** Tools served by `delegate` (its invokeTool gets exactly these tools' calls). */
  withTools(tools: SourceTool[], delegate: ToolSource): this {
    if (!Array.isArray(tools))
      throw new CodeCellError('ERR_INVALID_REQUEST', 'withTools takes an array of tool definitions');
    if (delegate === null || typeof delegate !== 'object' || typeof delegate.invokeTool !== 'function') {
      throw new CodeCellError('ERR_INVALID_REQUEST', 'withTools needs a delegate with an invokeTool method');
    }
    this.#toolSources.push({ tools: [...tools], delegate });
    return this;
  }

  /** An MCP server for this session alone: started (or connected) by start(), closed with the session. */
  withMcpServer(config: McpServerConfig): this {
    if (
      config === null ||
      typeof config !== 'object' ||
      typeof config.name !== 'string' ||
      !NAMESPACE.test(config.name)
    ) {
      throw new CodeCellError(
        'ERR_INVALID_REQUEST',
        `withMcpServer needs a name made of letters, digits and _ (its tools are tools.<name>__<tool>), got ${JSON.stringify((config as { name?: unknown } | null)?.name)}`,
      );
    }
    if (!('url' in config) && typeof (config as { command?: unknown }).command !== 'string') {
      throw new CodeCellError(
        'ERR_INVALID_REQUEST',
        `MCP server ${config.name} needs a command (stdio) or a url (Streamable HTTP)`,
      );
    }
    if (this.#mcpServers.some((server) => server.name === config.name))
      throw new CodeCellError('ERR_INVALID_REQUEST', `two MCP servers are named ${config.name}`);
    this.#mcpServers.push({ ...config });
    return this;
  }

  withLimits(limits: Partial<CellLimits>): this {
    this.#limits = { ...this.#limits, ...limits };
    return this;
  }

  /** A first cell the session runs before start() resolves (it reaches its first frontier). */
  withSetup(source: string): this {
    if (typeof source !== 'string')
      throw new CodeCellError('ERR_INVALID_REQUEST', 'withSetup takes the setup cell source');
    this.#setup = source;
    return this;
  }

  /**
   * Starts the MCP servers, lists their tools, checks that no two tools share a name, and starts
   * the session. Abandoned on `signal` (whatever was started is closed).
   */
  async start({ signal }: { signal?: AbortSignal } = {}): Promise<BuiltSession> {
    signal?.throwIfAborted();
    const logger = this.#options.logger ?? consoleLogger;
    const mcp = this.#mcpServers.length === 0 ? undefined : await loadMcp();
    const clients: { server: McpServerConfig; client: McpClient }[] = [];
    const closeClients = (): Promise<void> =>
      Promise.all(clients.map(({ client }) => client.close().catch(() => {}))).then(() => {});
    try {
      const routes = new Map<string, Route>();
      const checks = new ToolInputChecks();
      const definitions: ToolDefinition[] = [];
      const add = (tool: SourceTool, route: Route): void => {
        const id = toolIdentifier(tool);
        const taken = routes.get(id);
        if (taken !== undefined)
          throw new CodeCellError(
            'ERR_INVALID_REQUEST',
            `tool name clash: tools.${id} comes from ${taken.source} and from ${route.source}`,
          );
        routes.set(id, route);
        const { validateInput: _skip, ...definition } = tool;
        definitions.push(definition);
        if (route.validate) checks.add(definition, logger);
      };
      for (const [index, { tools, delegate }] of this.#toolSources.entries()) {
        for (const tool of tools)
          add(tool, {
            source: `withTools #${index + 1}`,
            validate: tool.validateInput !== false,
            invoke: (call, callSignal) => delegate.invokeTool(call, callSignal),
          });
      }
      if (mcp !== undefined) {
        // All started at once; each one that starts is closed again if the build fails.
        const connected = await Promise.allSettled(
          this.#mcpServers.map(async (server) =>
            clients.push({ server, client: await mcp.connectMcpServer(server, signal) }),
          ),
        );
        const failed = connected.findIndex((result) => result.status === 'rejected');
        if (failed >= 0) {
          signal?.throwIfAborted();
          const reason = (connected[failed] as PromiseRejectedResult).reason;
          throw new CodeCellError(
            'ERR_INVALID_REQUEST',
            `MCP server ${this.#mcpServers[failed]?.name ?? '?'} could not be started: ${messageOf(reason)}`,
            { cause: reason },
          );
        }
        clients.sort((a, b) => this.#mcpServers.indexOf(a.server) - this.#mcpServers.indexOf(b.server));
        for (const { server, client } of clients) {
          for (const tool of await mcp.listMcpTools(client, server.name, signal)) {
            const validate =
              typeof server.validateInput === 'function'
                ? server.validateInput(tool.name)
                : server.validateInput !== false;
            add(tool, {
              source: `MCP server ${server.name}`,
              validate,
              invoke: (call, callSignal) => mcp.callMcpTool(client, call, callSignal),
            });
          }
        }
      }
      const delegate = routingDelegate(
        routes,
        checks,
        this.#toolSources.map(({ delegate: source }) => source),
      );
      const inner = await this.#startSession(delegate, definitions, signal);
      return new BuiltSession(inner.session, definitions, inner.setupEvent, closeClients);
    } catch (error) {
      await closeClients();
      throw error;
    }
  }

  async #startSession(
    delegate: SessionRuntimeDelegate,
    tools: ToolDefinition[],
    signal: AbortSignal | undefined,
  ): Promise<{ session: CodeCellSession; setupEvent: CellEvent | undefined }> {
    const { host, logger, storedValues, callbackAbortDeadlineMs } = this.#options;
    const common = {
      tools,
      ...(this.#limits === undefined ? {} : { limits: this.#limits }),
      ...(storedValues === undefined ? {} : { storedValues }),
      ...(callbackAbortDeadlineMs === undefined ? {} : { callbackAbortDeadlineMs }),
    };
    if (host !== undefined) {
      const session = await host.createSession(delegate, {
        ...common,
        ...(this.#setup === undefined ? {} : { setupSource: this.#setup }),
        ...(signal === undefined ? {} : { signal }),
      });
      return { session, setupEvent: session.setupEvent };
    }
    const session = new SessionRuntime(delegate, { ...common, ...(logger === undefined ? {} : { logger }) });
    if (this.#setup === undefined) return { session, setupEvent: undefined };
    // As on codecell-host: start() resolves at the setup cell's first frontier (or its end), is
    // bounded, and is abandoned on `signal`; either way the session is shut down.
    const timer = AbortSignal.timeout(DEFAULT_SETUP_TIMEOUT_MS);
    try {
      const { initialEvent } = await session.execute({ source: this.#setup }, { kind: 'pendingFrontier' });
      return {
        session,
        setupEvent: await untilAborted(initialEvent, signal === undefined ? timer : AbortSignal.any([timer, signal])),
      };
    } catch (error) {
      await session.shutdown();
      if (timer.aborted && signal?.aborted !== true) throw setupTimedOut(DEFAULT_SETUP_TIMEOUT_MS);
      throw error;
    }
  }
}

/** Sends each call to its source, its input checked first; notifications to every source that takes them. */
function routingDelegate(
  routes: Map<string, Route>,
  checks: ToolInputChecks,
  sources: ToolSource[],
): SessionRuntimeDelegate {
  const notified = sources.filter((source) => typeof source.notify === 'function');
  const closers = sources.filter((source) => typeof source.cellClosed === 'function');
  return {
    invokeTool: async (call, signal) => {
      const route = routes.get(toolIdentifier(call.tool));
      if (route === undefined) throw new Error(`tools.${toolIdentifier(call.tool)} has no source in this session`);
      if (route.validate) checks.check(call.tool, call.input);
      return route.invoke(call, signal);
    },
    notify: async (notification, signal) => {
      await Promise.all(notified.map((source) => source.notify?.(notification, signal)));
    },
    cellClosed: async (cellId) => {
      await Promise.all(closers.map((source) => source.cellClosed?.(cellId)));
    },
  };
}

async function loadMcp(): Promise<typeof import('./mcp-tools.js')> {
  try {
    return await import('./mcp-tools.js');
  } catch (error) {
    throw new CodeCellError(
      'ERR_INVALID_REQUEST',
      `withMcpServer needs @modelcontextprotocol/sdk (npm install @modelcontextprotocol/sdk): ${messageOf(error)}`,
      { cause: error },
    );
  }
}

/** A session started by SessionBuilder: the session's interface; shutdown also closes its MCP servers. */
export class BuiltSession extends SessionBase {
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

  protected sessionEvents(): HandOffStream<SessionStreamEvent> {
    return this.session.events();
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
