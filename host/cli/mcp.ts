// `codecell mcp`: an MCP server on stdio exposing `exec` and `wait` (and `search_tools` when the
// upstream tools are many), whose cells call the tools of upstream MCP servers. Upstreams come
// from a config file in the format MCP clients use ({ "mcpServers": { name: … } }) and from
// `--upstream [name=]"<command>"` / `--upstream name=<url>`; each is namespaced by its name.
import { readFile } from 'node:fs/promises';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { codeModeStatus, createCodeModeTools, type CellLimits, type CodeModeResult, type ToolDefinition } from '../../src/index.js';
import { CODECELL_VERSION, messageOf, SERVED_LIMITS } from '../../src/internal.js';
import { callMcpTool, connectMcpServer, listMcpTools, type McpServerConfig } from '../tools/mcp-tools.js';
import { HostClient } from '../client/client.js';
import { SessionBuilder } from '../tools/session-builder.js';

const MCP_USAGE = `usage: codecell mcp [--config <mcp.json>] [--upstream [name=]"<command> [args...]"] [--upstream name=<url>] ...

  --config <file>    upstream servers as MCP clients configure them:
                     { "mcpServers": { "<name>": { "command", "args", "env", "cwd" } | { "url", "headers" } } }
  --upstream <spec>  one more upstream: name=command line, name=http(s) URL, or a command line
                     (named after the server); repeatable
  --cpu-time-ms <ms> a cell's CPU time limit (default 60000; 0: none)
  --wall-time-ms <ms> a cell's wall time limit (default 600000; 0: none)
  --help, --version

Upstreams get this process's environment (plus their own "env"); their stderr is forwarded here,
each line prefixed with [name]. An upstream that fails to start is reported and left out.`;

/** Past this many characters of tool declarations, exec lists tool names and search_tools serves the rest. */
const MAX_DECLARATION_CHARS = 8_000;

type ContentBlock = { type: 'text'; text: string } | { type: 'image'; data: string; mimeType: string };

/** Splits a command line on spaces, keeping "quoted" and 'quoted' parts together. */
export function splitCommand(command: string): string[] {
  const parts = command.match(/"[^"]*"|'[^']*'|\S+/g) ?? [];
  return parts.map((part) => (/^(["']).*\1$/.test(part) ? part.slice(1, -1) : part));
}

/** A name usable in `tools.<name>__<tool>`. */
function namespaceOf(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1') || 'server';
}

/** `name=spec`, or a bare command line (named later, after the server's own name). */
function upstreamOf(spec: string, index: number): McpServerConfig & { named: boolean } {
  const named = /^([A-Za-z_][\w-]*)=(.*)$/s.exec(spec);
  const name = named?.[1] ?? `server${index + 1}`;
  const rest = (named?.[2] ?? spec).trim();
  if (/^https?:\/\//.test(rest)) return { name, url: rest, named: true };
  const [command, ...args] = splitCommand(rest);
  if (command === undefined) throw new Error(`--upstream ${JSON.stringify(spec)} has no command`);
  return { name, command, args, named: named !== null };
}

async function configFile(path: string): Promise<McpServerConfig[]> {
  const parsed = JSON.parse(await readFile(path, 'utf8')) as { mcpServers?: Record<string, Record<string, unknown>> };
  if (parsed.mcpServers === null || typeof parsed.mcpServers !== 'object') throw new Error(`${path} has no "mcpServers" object`);
  return Object.entries(parsed.mcpServers).map(([name, server]) => {
    if (typeof server.url === 'string') return { name, url: server.url, ...(server.headers === undefined ? {} : { headers: server.headers as Record<string, string> }) };
    if (typeof server.command !== 'string') throw new Error(`${path}: server ${name} needs a "command" or a "url"`);
    return { name, command: server.command, args: (server.args as string[] | undefined) ?? [], ...(server.env === undefined ? {} : { env: server.env as Record<string, string> }), ...(typeof server.cwd === 'string' ? { cwd: server.cwd } : {}) };
  });
}

/** MCP content for a code-mode result: its text, its images, and the status line. */
function contentOf(result: CodeModeResult, waitName: string): { content: ContentBlock[]; isError: boolean } {
  const content: ContentBlock[] = result.output === '' ? [] : [{ type: 'text', text: result.output }];
  for (const image of result.images) {
    const match = /^data:([^;,]+)(;base64)?,(.*)$/s.exec(image.image_url);
    content.push(match === null ? { type: 'text', text: '[image]' } : { type: 'image', mimeType: match[1] ?? 'image/png', data: match[2] === undefined ? Buffer.from(decodeURIComponent(match[3] ?? '')).toString('base64') : (match[3] ?? '') });
  }
  content.push({ type: 'text', text: codeModeStatus(result, waitName) });
  return { content, isError: result.status === 'failed' };
}

export interface McpIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

/** Writes a stream's lines to `out`, each prefixed. */
function forwardLines(stream: NodeJS.ReadableStream | null | undefined, prefix: string, out: Writable, tail: string[]): void {
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

/** Runs the MCP server until its client disconnects; resolves with the exit code. */
export async function mcpCommand(args: string[], io: McpIo): Promise<number> {
  let upstreams: (McpServerConfig & { named?: boolean })[];
  // Cells come from whoever drives the MCP client: their time is finite unless asked otherwise.
  const limits: Partial<CellLimits> = { ...SERVED_LIMITS };
  try {
    const options = { upstream: { type: 'string', multiple: true }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } } as const;
    const { values } = parseArgs({ args, options: { ...options, 'cpu-time-ms': { type: 'string' }, 'wall-time-ms': { type: 'string' } } });
    for (const [flag, limit] of [['cpu-time-ms', 'cpuTimeMs'], ['wall-time-ms', 'wallTimeMs']] as const) {
      const text = values[flag];
      if (text === undefined) continue;
      if (!/^\d+$/.test(text)) throw new Error(`--${flag} takes a whole number of milliseconds, got ${JSON.stringify(text)}`);
      limits[limit] = Number(text);
    }
    if (values.help === true || values.version === true) {
      io.stdout.write(values.help === true ? `${MCP_USAGE}\n` : `codecell ${CODECELL_VERSION}\n`);
      return 0;
    }
    upstreams = [...(values.config === undefined ? [] : await configFile(values.config)), ...(values.upstream ?? []).map(upstreamOf)];
  } catch (error) {
    io.stderr.write(`codecell mcp: ${messageOf(error)}\n${MCP_USAGE}\n`);
    return 2;
  }
  if (upstreams.length === 0) {
    io.stderr.write(`codecell mcp: no upstream server: give --config or --upstream\n${MCP_USAGE}\n`);
    return 2;
  }

  // Each upstream on its own: one that fails is reported with its stderr and left out.
  const taken = new Set<string>();
  const connected = await Promise.all(
    upstreams.map(async (upstream) => {
      const label = upstream.name;
      const tail: string[] = [];
      try {
        const client = await connectMcpServer({ ...upstream, ...('command' in upstream ? { stderr: 'pipe' as const } : {}) }, undefined, (stream) => forwardLines(stream, `[${label}]`, io.stderr, tail));
        return { upstream, client };
      } catch (error) {
        io.stderr.write(`codecell mcp: upstream ${label} failed to start: ${messageOf(error)}${tail.length === 0 ? '' : `; its last output: ${tail.join(' | ')}`}\n`);
        return undefined;
      }
    }),
  );
  const live = connected.filter((entry) => entry !== undefined);
  if (live.length === 0) {
    io.stderr.write('codecell mcp: no upstream server could be started\n');
    return 1;
  }
  const logger = { warn: (m: string) => io.stderr.write(`${m}\n`), error: (m: string) => io.stderr.write(`${m}\n`) };
  // Cells run in a codecell-host process: a catastrophic cell costs that host (a fresh one takes
  // over for the next call), never this MCP server.
  const host = await HostClient.spawn({ processes: 1, logger });
  const builder = new SessionBuilder({ host, logger }).withLimits(limits);
  const tools: ToolDefinition[] = [];
  const server = new Server({ name: 'codecell', version: CODECELL_VERSION }, { capabilities: { tools: {}, logging: {} } });
  const log = (data: string): void => {
    server.sendLoggingMessage({ level: 'info', logger: 'codecell', data }).catch(() => {});
  };
  for (const { upstream, client } of live) {
    // Unnamed command lines take the server's own name; config and name= names stay as given.
    let namespace = namespaceOf(upstream.named === false ? (client.getServerVersion()?.name?.split('/').at(-1) ?? upstream.name) : upstream.name);
    for (let n = 2; taken.has(namespace); n++) namespace = `${namespaceOf(upstream.name)}${n}`;
    taken.add(namespace);
    const listed = await listMcpTools(client, namespace);
    tools.push(...listed);
    builder.withTools(listed, { invokeTool: (call, signal) => callMcpTool(client, call, signal, log) });
  }
  builder.withTools([], { invokeTool: async () => null, notify: async (notification) => log(notification.text) });
  const codeMode = createCodeModeTools({ start: () => builder.start() }, { tools, strict: false, onAbort: 'detach', maxDeclarationChars: MAX_DECLARATION_CHARS });
  const { exec, wait, search } = codeMode;
  await codeMode.session();
  // What an upstream tool without an outputSchema (typed Promise<unknown>) resolves to.
  const resultNote = '\nAn upstream tool resolves to its structuredContent when it has one, else to the text of a single text block, else to its content blocks; an error result rejects with its text.';
  const listedTools = [{ ...exec, description: exec.description + resultNote }, wait, ...(search === undefined ? [] : [search])].map(({ name, description, inputSchema }) => ({ name, description, inputSchema }));
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: listedTools as never }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const input = (request.params.arguments ?? {}) as Record<string, unknown>;
    try {
      if (request.params.name === exec.name) return contentOf(await exec.execute(input as never, { signal: extra.signal }), wait.name);
      if (request.params.name === wait.name) return contentOf(await wait.execute(input as never, { signal: extra.signal }), wait.name);
      if (search !== undefined && request.params.name === search.name) return { content: [{ type: 'text', text: await search.execute(input as never) }] };
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
  await (await codeMode.session().catch(() => undefined))?.shutdown();
  await host.close();
  await Promise.all(live.map(({ client }) => client.close().catch(() => {})));
  return 0;
}
