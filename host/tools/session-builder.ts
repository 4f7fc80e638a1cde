// host/tools/ — tool sources: SessionBuilder (this file) and the session it builds
// (built-session.ts), MCP servers as tool sources (mcp-tools.ts, the only importer of the MCP
// SDK's client), the routing of tool calls (tool-routes.ts) and tool-input checks (tool-input.ts).
// It imports src/ and client/ (a type); cli, adapters and the entry points may import it.
//
// SessionBuilder: how an agent core sets a session up (the ACP session builder is the model):
// tool sources (its own tools with a delegate, MCP servers per session), limits and a setup cell,
// then start() — in this process (SessionRuntime) or on codecell-host (HostClient) alike. One
// routing delegate sends each tool call to its source, after checking its input.
import {
  CodeCellError,
  SessionRuntime,
  type CellEvent,
  type CellLimits,
  type CodeCellSession,
  type CodeCellStore,
  type JsonValue,
  type Logger,
  type SessionRuntimeDelegate,
  type ToolDefinition,
} from '../../src/index.js';
import { consoleLogger, messageOf } from '../../src/internal.js';
import type { HostClient } from '../client/client.js';
import { DEFAULT_SETUP_TIMEOUT_MS, setupTimedOut } from '../client/remote-session.js';
import { untilAborted } from '../wire/signals.js';
import type { McpServerConfig } from './mcp-config.js';
import type { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { ComposedSession, type BuiltSession } from './built-session.js';
import { ToolRoutes, type SourceTool, type ToolSource } from './tool-routes.js';

export type { SourceTool, ToolSource } from './tool-routes.js';

export type { BuiltSession } from './built-session.js';

export type { McpServerConfig, McpHttpAuth, McpHttpServer, McpStdioServer } from './mcp-config.js';

/** Where SessionBuilder starts the session, and its logger, stored values and deadline. */
export interface SessionBuilderOptions {
  /** Start the session on this host (default: a SessionRuntime in this process). */
  host?: HostClient;
  logger?: Logger;
  storedValues?: 'enabled' | 'disabled';
  callbackAbortDeadlineMs?: number;
  /** The session's key (SPEC §16): its calls' idempotency keys begin with it. Default: a random one. */
  key?: string;
}

const NAMESPACE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Builds a session from tool sources (own tools, MCP servers), limits and a setup cell, in-process or on a host. */
export class SessionBuilder {
  readonly #options: SessionBuilderOptions;
  readonly #toolSources: { tools: SourceTool[]; delegate: ToolSource }[] = [];
  readonly #mcpServers: McpServerConfig[] = [];
  #limits: Partial<CellLimits> | undefined;
  #setup: string | undefined;
  #store: { store: CodeCellStore; metadata?: JsonValue; leaseMs?: number } | undefined;

  constructor(options: SessionBuilderOptions = {}) {
    if (options === null || typeof options !== 'object')
      throw new CodeCellError('ERR_INVALID_REQUEST', 'SessionBuilder options must be an object');
    this.#options = options;
  }

  /** Tools served by `delegate` (its invokeTool gets exactly these tools' calls). */
  withTools(tools: SourceTool[], delegate: ToolSource): this {
    if (!Array.isArray(tools))
      throw new CodeCellError(
        'ERR_INVALID_REQUEST',
        // The usual cause: `aiSdkToolSource(…)` (async) used without await, so its `.tools` is undefined.
        `withTools takes an array of tool definitions, got ${tools === undefined ? 'undefined (is your tool source a Promise? aiSdkToolSource is async: await it)' : typeof tools}`,
      );
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
        `withMcpServer needs a name made of letters, digits and _ (its tools are ` +
          `tools.<name>__<tool>), got ${JSON.stringify((config as { name?: unknown } | null)?.name)}`,
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

  /**
   * Keeps the session in `store` (SPEC §16: `SessionRuntime`'s `store`, `metadata`, `leaseMs`).
   * In this process only: on a host, the HostClient keeps its sessions (HostClient.spawn({ store })).
   */
  withStore(store: CodeCellStore, options: { metadata?: JsonValue; leaseMs?: number } = {}): this {
    if (this.#options.host !== undefined)
      throw new CodeCellError(
        'ERR_INVALID_REQUEST',
        'withStore keeps an in-process session; on a host, give the store to HostClient.spawn or connect',
      );
    this.#store = { store, ...options };
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
    const routes = new ToolRoutes();
    const clients: McpClients = [];
    const closeClients = (): Promise<void> =>
      Promise.all(clients.map(({ client }) => client.close().catch(() => {}))).then(() => {});
    try {
      for (const [index, { tools, delegate }] of this.#toolSources.entries()) {
        for (const tool of tools)
          routes.add(tool, {
            source: `withTools #${index + 1}`,
            invoke: (call, callSignal) => delegate.invokeTool(call, callSignal),
          });
      }
      const logger = this.#options.logger ?? consoleLogger;
      const warn = (message: string): void => logger.warn(message);
      if (this.#mcpServers.length > 0) await addMcpTools(routes, this.#mcpServers, clients, signal, warn);
      const delegate = routes.delegate(this.#toolSources.map(({ delegate: source }) => source));
      const inner = await this.#startSession(delegate, routes.definitions, signal);
      return new ComposedSession(inner.session, routes.definitions, inner.setupEvent, closeClients);
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
    const { host, logger, storedValues, callbackAbortDeadlineMs, key } = this.#options;
    const common = {
      tools,
      ...(key === undefined ? {} : { key }),
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
    const session = new SessionRuntime(delegate, {
      ...common,
      ...this.#store,
      ...(logger === undefined ? {} : { logger }),
    });
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

type McpClients = { server: McpServerConfig; client: McpClient }[];

/** Starts the MCP servers (all at once; each that started lands in `clients`) and routes their tools. */
async function addMcpTools(
  routes: ToolRoutes,
  servers: McpServerConfig[],
  clients: McpClients,
  signal: AbortSignal | undefined,
  warn: (message: string) => void,
): Promise<void> {
  const mcp = await loadMcp();
  const connected = await Promise.allSettled(
    servers.map(async (server) =>
      clients.push({ server, client: await mcp.connectMcpServer(server, signal, undefined, warn) }),
    ),
  );
  const failed = connected.findIndex((result) => result.status === 'rejected');
  if (failed >= 0) {
    signal?.throwIfAborted();
    const reason = (connected[failed] as PromiseRejectedResult).reason;
    const message = `MCP server ${servers[failed]?.name ?? '?'} could not be started: ${messageOf(reason)}`;
    throw new CodeCellError('ERR_INVALID_REQUEST', message, { cause: reason });
  }
  clients.sort((a, b) => servers.indexOf(a.server) - servers.indexOf(b.server));
  for (const { server, client } of clients) {
    let listed: ToolDefinition[];
    try {
      listed = await mcp.listMcpTools(client, server.name, signal, warn);
    } catch (error) {
      // What an upstream answers never stops the session: it is left out, with why.
      signal?.throwIfAborted();
      warn(`codecell: MCP server ${server.name} is left out: its tools/list failed: ${messageOf(error)}`);
      continue;
    }
    for (const tool of listed) {
      const { validateInput } = server;
      const validate = typeof validateInput === 'function' ? validateInput(tool.name) : validateInput !== false;
      routes.add(validate ? tool : { ...tool, validateInput: false }, {
        source: `MCP server ${server.name}`,
        invoke: (call, callSignal) => mcp.callMcpTool(client, call, callSignal),
      });
    }
  }
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
