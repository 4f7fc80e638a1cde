// The upstream MCP servers of `codecell mcp`: each started (its stderr forwarded, its log
// messages sent on), and their tools listed under a namespace of their own.
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Writable } from 'node:stream';
import type { ToolDefinition } from '../../src/index.js';
import { messageOf } from '../../src/internal.js';
import { connectMcpServer, listMcpTools, type McpServerConfig } from '../tools/mcp-tools.js';

/** A name usable in `tools.<name>__<tool>`. */
function namespaceOf(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1') || 'server';
}

/** Writes a stream's lines to `out`, each prefixed. */
function forwardLines(
  stream: NodeJS.ReadableStream | null | undefined,
  prefix: string,
  out: Writable,
  tail: string[],
): void {
  let partial = '';
  stream?.on('data', (chunk: Buffer | string) => {
    const lines = (partial + String(chunk)).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      out.write(`${prefix} ${line}\n`);
      tail.push(line);
      if (tail.length > 5) tail.shift();
    }
  });
}

export type Upstream = McpServerConfig & { named?: boolean };
type UpstreamClient = Awaited<ReturnType<typeof connectMcpServer>>;

/** An upstream log message's data as one line of at most 4 KiB. */
function logText(data: unknown): string {
  const text = typeof data === 'string' ? data : (JSON.stringify(data) ?? String(data));
  return text.length > 4096 ? `${text.slice(0, 4096)} …` : text;
}

/** Upstream log text waiting for a slow reader (stderr, or the stdio client) at most; past it lines are dropped. */
const MAX_LOG_BACKLOG_BYTES = 1024 * 1024;

/**
 * Starts one upstream; one that fails is reported with its stderr and left out (undefined). Its
 * log messages go to the MCP sessions of `stdio` (while its output keeps up), or to stderr without
 * them (over HTTP).
 */
export async function connectUpstream(
  upstream: Upstream,
  stdio: { servers: Set<Server>; output: Writable } | undefined,
  stderr: Writable,
): Promise<{ upstream: Upstream; client: UpstreamClient } | undefined> {
  const label = upstream.name;
  const tail: string[] = [];
  try {
    const client = await connectMcpServer(
      { ...upstream, ...('command' in upstream ? { stderr: 'pipe' as const } : {}) },
      undefined,
      (stream) => forwardLines(stream, `[${label}]`, stderr, tail),
      (message) => stderr.write(`${message}\n`),
    );
    client.setNotificationHandler(LoggingMessageNotificationSchema, ({ params }) => {
      const logger = params.logger === undefined ? label : `${label}/${params.logger}`;
      if (stdio !== undefined) {
        if (stdio.output.writableLength >= MAX_LOG_BACKLOG_BYTES) return; // a slow client: never a growing queue
        for (const server of stdio.servers) server.sendLoggingMessage({ ...params, logger }).catch(() => {});
      } else if (stderr.writableLength < MAX_LOG_BACKLOG_BYTES)
        stderr.write(`[${logger}] ${params.level}: ${logText(params.data)}\n`);
    });
    return { upstream, client };
  } catch (error) {
    const output = tail.length === 0 ? '' : `; its last output: ${tail.join(' | ')}`;
    stderr.write(`codecell mcp: upstream ${label} failed to start: ${messageOf(error)}${output}\n`);
    return undefined;
  }
}

/**
 * Every upstream's tools under a namespace of its own (a second server of one name gets name2,
 * ...); an upstream whose tools/list fails is left out with a warning.
 */
export async function listUpstreamTools(live: { upstream: Upstream; client: UpstreamClient }[], stderr: Writable) {
  const taken = new Set<string>();
  const tools: ToolDefinition[] = [];
  const sources: { listed: ToolDefinition[]; client: UpstreamClient }[] = [];
  for (const { upstream, client } of live) {
    // Unnamed command lines take the server's own name; config and name= names stay as given.
    const own = upstream.named === false ? client.getServerVersion()?.name?.split('/').at(-1) : undefined;
    let namespace = namespaceOf(own ?? upstream.name);
    for (let n = 2; taken.has(namespace); n++) namespace = `${namespaceOf(upstream.name)}${n}`;
    taken.add(namespace);
    let listed: ToolDefinition[];
    try {
      listed = await listMcpTools(client, namespace, undefined, (message) => stderr.write(`${message}\n`));
    } catch (error) {
      stderr.write(`codecell mcp: upstream ${upstream.name} is left out: its tools/list failed: ${messageOf(error)}\n`);
      continue;
    }
    tools.push(...listed);
    sources.push({ listed, client });
  }
  return { tools, sources };
}
