// The upstream MCP servers of `codecell mcp`: each started (its output forwarded:
// mcp-upstream-logs.ts), their tools listed under a namespace of their own and routed to them; one
// that starts late joins the sessions already open.
import type { Writable } from 'node:stream';
import {
  approvalInterrupt,
  toolIdentifier,
  type CodeCellSession,
  type ExecuteRequest,
  type ObserveMode,
  type SessionRuntimeDelegate,
  type StartedCell,
  type ToolDefinition,
} from '../../src/index.js';
import { closestNames, Deadline, messageOf } from '../../src/internal.js';
import { ComposedSession } from '../tools/built-session.js';
import { callMcpTool, connectMcpServer, listMcpTools, type McpServerConfig } from '../tools/mcp-tools.js';
import type { CallsMade } from './mcp-calls-made.js';
import { forwardLines, forwardLogMessages, type UpstreamLogs } from './mcp-upstream-logs.js';

export { StdioLogs, type UpstreamLogs } from './mcp-upstream-logs.js';

/** A name usable in `tools.<name>__<tool>`. */
function namespaceOf(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1') || 'server';
}

export type Upstream = McpServerConfig & { named?: boolean };
type UpstreamClient = Awaited<ReturnType<typeof connectMcpServer>>;

/**
 * Starts one upstream; one that fails is reported with its stderr and left out (undefined). Its
 * log messages go to `logs` (the stdio client, while it keeps up), or to stderr without
 * them (over HTTP).
 */
async function connectUpstream(
  upstream: Upstream,
  logs: UpstreamLogs,
  stderr: Writable,
  signal: AbortSignal,
): Promise<{ upstream: Upstream; client: UpstreamClient } | undefined> {
  const label = upstream.name;
  const tail: string[] = [];
  try {
    const client = await connectMcpServer(
      { ...upstream, ...('command' in upstream ? { stderr: 'pipe' as const } : {}) },
      signal,
      (stream) => forwardLines(stream, `[${label}]`, stderr, tail),
      (message) => stderr.write(`${message}\n`),
    );
    forwardLogMessages(client, label, logs, stderr);
    return { upstream, client };
  } catch (error) {
    if (signal.aborted) return undefined;
    const output = tail.length === 0 ? '' : `; its last output: ${tail.join(' | ')}`;
    stderr.write(`codecell mcp: upstream ${label} failed to start: ${messageOf(error)}${output}\n`);
    return undefined;
  }
}

/**
 * The upstreams of one `codecell mcp`: each started and its tools listed under a namespace of its
 * own (a second server of one name gets name2, ...). `start` waits for them within a bound; one
 * that answers later joins then, and `onJoin`'s listeners hear of it. An upstream whose start or
 * tools/list fails is left out with a warning.
 */
export class Upstreams {
  readonly #configs: Upstream[];
  readonly #stderr: Writable;
  readonly #logs: UpstreamLogs;
  /** Each upstream's tools by its index (config order), once it joined. */
  readonly #listed: ToolDefinition[][] = [];
  readonly #routes = new Map<string, UpstreamClient>();
  /** Tools (by identifier) whose calls need a person's approval first (config `requiresApproval`). */
  readonly #approvals = new Set<string>();
  readonly #clients: UpstreamClient[] = [];
  readonly #namespaces = new Set<string>();
  readonly #listeners = new Set<() => void>();
  readonly #stopped = new AbortController();
  /** The upstreams (by index) whose start ended, joined or not. */
  readonly #settled = new Set<number>();
  /** `requiresApproval` names that match no tool of an upstream that joined within start's bound. */
  readonly #unmatched: string[] = [];
  /** Whether start's bound passed: an upstream joining later is warned about a name, not refused. */
  #late = false;
  #tools: readonly ToolDefinition[] = [];

  /** The names of the upstreams still starting (their tools join when they answer). */
  get starting(): string[] {
    return this.#configs.filter((_, index) => !this.#settled.has(index)).map(({ name }) => name);
  }

  /** True when some upstream's tools need a person's approval (config `requiresApproval`). */
  get asksApproval(): boolean {
    return this.#configs.some(
      ({ requiresApproval: asks }) => asks === true || (Array.isArray(asks) && asks.length > 0),
    );
  }

  constructor(configs: Upstream[], logs: UpstreamLogs, stderr: Writable) {
    this.#configs = configs;
    this.#logs = logs;
    this.#stderr = stderr;
  }

  /** Every tool of the upstreams that joined so far, in config order. */
  get tools(): readonly ToolDefinition[] {
    return this.#tools;
  }

  /**
   * Starts every upstream, waiting at most `boundMs` for them to join; how many joined, and the
   * names of those still starting (they join when they answer).
   */
  async start(boundMs: number): Promise<{ joined: number; starting: string[]; unmatched: string[] }> {
    const starts = this.#configs.map(async (upstream, index) => {
      try {
        const live = await connectUpstream(upstream, this.#logs, this.#stderr, this.#stopped.signal);
        if (live !== undefined) await this.#join(index, live.client);
      } finally {
        this.#settled.add(index);
      }
    });
    const bound = new Deadline(boundMs);
    await Promise.race([Promise.all(starts), bound.reached]);
    bound.clear();
    this.#late = true;
    const joined = this.#listed.filter((tools) => tools !== undefined).length;
    return { joined, starting: this.starting, unmatched: this.#unmatched };
  }

  /** Calls `listener` whenever an upstream joins late; the returned function stops it. */
  onJoin(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Sends each tool call to its upstream; a cell's notify() goes to `log`, and each call answered
   * without an error to `made`. A call of a tool that requires approval pauses its cell instead
   * (CellInterrupt): `approved` makes it once approved.
   */
  delegate(log: (text: string) => void, made?: CallsMade): SessionRuntimeDelegate {
    return {
      invokeTool: async (call, signal) => {
        const id = toolIdentifier(call.tool);
        const client = this.#routes.get(id);
        if (client === undefined) throw new Error(`tools.${id} has no upstream`);
        if (this.#approvals.has(id) && call.approved !== true) throw approvalInterrupt(call);
        const result = await callMcpTool(client, call, signal, log);
        made?.made(call.cellId, `tools.${id} (${call.callId})`);
        return result;
      },
      notify: async (notification) => log(notification.text),
    };
  }

  /** Stops the upstreams still starting and closes every one that joined. */
  async close(): Promise<void> {
    this.#stopped.abort();
    await Promise.all(this.#clients.map((client) => client.close().catch(() => {})));
  }

  /** Lists an upstream's tools and routes them (a tools/list that fails leaves it out). */
  async #join(index: number, client: UpstreamClient): Promise<void> {
    if (this.#stopped.signal.aborted) return void client.close().catch(() => {});
    this.#clients.push(client);
    const upstream = this.#configs[index] as Upstream;
    const namespace = this.#namespaceOf(upstream, client);
    const warn = (message: string): void => void this.#stderr.write(`${message}\n`);
    let listed: ToolDefinition[];
    try {
      listed = await listMcpTools(client, namespace, this.#stopped.signal, warn);
    } catch (error) {
      if (!this.#stopped.signal.aborted)
        warn(`codecell mcp: upstream ${upstream.name} is left out: its tools/list failed: ${messageOf(error)}`);
      return;
    }
    const routed: ToolDefinition[] = [];
    const { requiresApproval } = upstream;
    const asked = new Set(Array.isArray(requiresApproval) ? requiresApproval : []);
    const matched = new Set<string>();
    for (const tool of listed) {
      const id = toolIdentifier(tool);
      if (this.#routes.has(id)) {
        warn(`codecell mcp: tool ${tool.name} of ${upstream.name} is left out: another upstream has tools.${id}`);
        continue;
      }
      this.#routes.set(id, client);
      // A tool's names: the upstream's, the cell's (tools.<namespace>__<name>), and that without its namespace.
      const names = [tool.name, id, toolIdentifier({ name: tool.name })].filter((name) => asked.has(name));
      if (requiresApproval === true || names.length > 0) this.#approvals.add(id);
      for (const name of names) matched.add(name);
      routed.push(tool);
    }
    for (const name of asked) {
      if (matched.has(name)) continue;
      const close = closestNames(
        name,
        routed.map((tool) => tool.name),
      ).slice(0, 3);
      const message =
        `upstream ${upstream.name}: "requiresApproval" names ${JSON.stringify(name)}, which is none of its tools ` +
        `(closest: ${close.map((each) => JSON.stringify(each)).join(', ') || 'it has none'})`;
      if (this.#late) warn(`codecell mcp: ${message}: no call of it will ask`);
      else this.#unmatched.push(message);
    }
    this.#listed[index] = routed;
    this.#tools = this.#listed.flat();
    for (const listener of this.#listeners) listener();
  }

  /** Unnamed command lines take the server's own name; config and name= names stay as given. */
  #namespaceOf(upstream: Upstream, client: UpstreamClient): string {
    const own = upstream.named === false ? client.getServerVersion()?.name?.split('/').at(-1) : undefined;
    let namespace = namespaceOf(own ?? upstream.name);
    for (let n = 2; this.#namespaces.has(namespace); n++) namespace = `${namespaceOf(upstream.name)}${n}`;
    this.#namespaces.add(namespace);
    return namespace;
  }
}

/**
 * A session over the upstreams' tools: each cell gets every tool known when it starts, also those
 * of an upstream that joined after the session did.
 */
export class UpstreamSession extends ComposedSession {
  readonly #upstreams: Upstreams;

  constructor(session: CodeCellSession, tools: readonly ToolDefinition[], upstreams: Upstreams) {
    super(session, [...tools], undefined, async () => {});
    this.#upstreams = upstreams;
  }

  override execute(request: ExecuteRequest, initialObserve?: ObserveMode): Promise<StartedCell> {
    // Tools only ever join: a longer list is a newer one.
    const now = this.#upstreams.tools;
    return super.execute(now.length === this.tools.length ? request : { ...request, tools: [...now] }, initialObserve);
  }
}
