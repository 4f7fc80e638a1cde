// `codecell mcp --upstream "<command>" [--upstream ...]`: an MCP server on stdio exposing `exec`
// and `wait`, whose cells call the tools of upstream MCP servers (namespaced by server).
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { describeExecTool, SessionRuntime, type CellEvent, type ToolDefinition } from '../src/index.js';
import { CODECELL_VERSION, DEFAULT_YIELD_MS, messageOf } from '../src/internal.js';
import { callMcpTool, connectMcpServer, listMcpTools } from './mcp-tools.js';

const MCP_USAGE = 'usage: codecell mcp --upstream "<command> [args...]" [--upstream ...]';

interface Upstream {
  namespace: string;
  client: Client;
}

type ContentBlock = { type: 'text'; text: string } | { type: 'image'; data: string; mimeType: string };

/** Splits a command line on spaces, keeping "quoted" and 'quoted' parts together. */
export function splitCommand(command: string): string[] {
  const parts = command.match(/"[^"]*"|'[^']*'|\S+/g) ?? [];
  return parts.map((part) => (/^(["']).*\1$/.test(part) ? part.slice(1, -1) : part));
}

function namespaceOf(name: string | undefined, index: number, taken: Set<string>): string {
  const base = (name?.split('/').at(-1) ?? '').replace(/[^A-Za-z0-9_]/g, '_') || `server${index + 1}`;
  let namespace = base;
  for (let n = 2; taken.has(namespace); n++) namespace = `${base}${n}`;
  taken.add(namespace);
  return namespace;
}

function contentOf(event: CellEvent): { content: ContentBlock[]; isError: boolean } {
  const content: ContentBlock[] = event.items.map((item) => {
    if (item.type === 'text') return { type: 'text', text: item.text };
    const match = /^data:([^;,]+)(;base64)?,(.*)$/s.exec(item.imageUrl);
    return match === null ? { type: 'text', text: '[image]' } : { type: 'image', mimeType: match[1] ?? 'image/png', data: match[2] === undefined ? Buffer.from(decodeURIComponent(match[3] ?? '')).toString('base64') : match[3] ?? '' };
  });
  let status: string;
  let isError = false;
  switch (event.kind) {
    case 'completed':
      isError = event.error !== undefined;
      status = isError ? `cell ${event.cellId} failed:\n${event.error ?? ''}` : `cell ${event.cellId} completed`;
      break;
    case 'terminated':
      status = `cell ${event.cellId} was terminated (${event.reason ?? 'requested'})`;
      break;
    case 'pending':
      status = `cell ${event.cellId} is waiting on ${event.pendingToolCallIds.join(', ') || 'timers'}; call wait with cell_id "${event.cellId}"`;
      break;
    default:
      status = `cell ${event.cellId} is still running; call wait with cell_id "${event.cellId}"`;
  }
  content.push({ type: 'text', text: status });
  return { content, isError };
}

export interface McpIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

/** Runs the MCP server until its client disconnects; resolves with the exit code. */
export async function mcpCommand(args: string[], io: McpIo): Promise<number> {
  let upstreamCommands: string[];
  try {
    const { values } = parseArgs({ args, options: { upstream: { type: 'string', multiple: true } } });
    upstreamCommands = values.upstream ?? [];
  } catch (error) {
    io.stderr.write(`codecell mcp: ${messageOf(error)}\n${MCP_USAGE}\n`);
    return 2;
  }
  if (upstreamCommands.length === 0) {
    io.stderr.write(`codecell mcp: at least one --upstream is needed\n${MCP_USAGE}\n`);
    return 2;
  }

  const upstreams: Upstream[] = [];
  const tools: ToolDefinition[] = [];
  const taken = new Set<string>();
  try {
    for (const [index, command] of upstreamCommands.entries()) {
      const [file, ...rest] = splitCommand(command);
      if (file === undefined) throw new Error('an --upstream command is empty');
      const client = await connectMcpServer({ name: `server${index + 1}`, command: file, args: rest, stderr: 'ignore' });
      const namespace = namespaceOf(client.getServerVersion()?.name, index, taken);
      upstreams.push({ namespace, client });
      tools.push(...(await listMcpTools(client, namespace)));
    }
  } catch (error) {
    io.stderr.write(`codecell mcp: could not start an upstream server: ${messageOf(error)}\n`);
    await Promise.all(upstreams.map(({ client }) => client.close().catch(() => {})));
    return 1;
  }

  const server = new Server({ name: 'codecell', version: CODECELL_VERSION }, { capabilities: { tools: {}, logging: {} } });
  const log = (data: string): void => {
    server.sendLoggingMessage({ level: 'info', logger: 'codecell', data }).catch(() => {});
  };
  const runtime = new SessionRuntime({
    invokeTool: async (call, signal) => {
      const upstream = upstreams.find(({ namespace }) => namespace === call.tool.namespace);
      if (upstream === undefined) throw new Error(`no upstream server for ${call.tool.namespace ?? call.tool.name}`);
      return callMcpTool(upstream.client, call, signal, log);
    },
    notify: async (notification) => log(notification.text),
  }, { tools, logger: { warn: (m) => io.stderr.write(`${m}\n`), error: (m) => io.stderr.write(`${m}\n`) } });

  const { exec, wait } = describeExecTool(tools);
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [exec, wait] }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const input = (request.params.arguments ?? {}) as Record<string, unknown>;
    try {
      const yieldMs = typeof input.yield_time_ms === 'number' ? input.yield_time_ms : DEFAULT_YIELD_MS;
      if (request.params.name === exec.name) {
        const { initialEvent } = await runtime.execute(
          { source: input.source as string, language: (input.language as 'javascript' | 'typescript' | 'auto' | undefined) ?? 'javascript' },
          { kind: 'yieldAfter', ms: yieldMs },
        );
        return contentOf(await initialEvent);
      }
      if (request.params.name === wait.name) {
        const cellId = input.cell_id as string;
        const event = input.terminate === true ? await runtime.terminate(cellId) : await runtime.observe(cellId, { kind: 'yieldAfter', ms: yieldMs }, extra.signal);
        return contentOf(event);
      }
      return { content: [{ type: 'text', text: `unknown tool ${request.params.name}` }], isError: true };
    } catch (error) {
      return { content: [{ type: 'text', text: messageOf(error) }], isError: true };
    }
  });

  const transport = new StdioServerTransport(io.stdin, io.stdout);
  const closed = new Promise<void>((resolve) => {
    server.onclose = resolve;
    io.stdin.once('end', resolve);
  });
  await server.connect(transport);
  await closed;
  await runtime.shutdown();
  await Promise.all(upstreams.map(({ client }) => client.close().catch(() => {})));
  return 0;
}
