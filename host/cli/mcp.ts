// `codecell mcp`: an MCP server on stdio exposing `exec` and `wait` (and `search_tools` when the
// upstream tools are many), whose cells call the tools of upstream MCP servers. Upstreams come
// from a config file in the format MCP clients use ({ "mcpServers": { name: … } }) and from
// `--upstream [name=]"<command>"` / `--upstream name=<url>`; each is namespaced by its name.
import { readFile } from 'node:fs/promises';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  postgresStore,
  sqliteStore,
  type CellLimits,
  type CodeCellStore,
  type SessionRuntimeDelegate,
} from '../../src/index.js';
import { CODECELL_VERSION, DEFAULT_LEASE_MS, messageOf } from '../../src/internal.js';
import { HostClient } from '../client/client.js';
import type { RemoteSession } from '../client/remote-session.js';
import { address, wholeNumber } from './host-args.js';
import { startTraceExport, traceExportPlan, type TraceExport, type TraceExportPlan } from '../server/trace-export.js';
import { isLoopback, serveMcpHttp } from './mcp-http.js';
import type { ModernMcp } from './mcp-modern.js';
import { StdioLogs, Upstreams, UpstreamSession, type Upstream } from './mcp-upstreams.js';
import { configFile, upstreamOf } from './mcp-upstream-config.js';

export { splitCommand } from './mcp-upstream-config.js';
import { newMcpSession, type McpContext } from './mcp-server.js';

const MCP_SYNOPSIS = 'usage: codecell mcp [--config <mcp.json>] [--upstream [name=]"<command> [args...]"] ';
const MCP_USAGE = `${MCP_SYNOPSIS}[--upstream name=<url>] ...

  --config <file>    upstream servers as MCP clients configure them:
                     { "mcpServers": { "<name>": { "command", "args", "env", "cwd" } | { "url", "headers" } } }
                     (and "requiresApproval": true or tool names, the upstream's or the cell's: those
                     calls wait for the user's OK; a name of no tool is an error)
  --upstream <spec>  one more upstream: name=command line, name=http(s) URL, or a command line
                     (named after the server); repeatable
  --http <host>:<port>  serve MCP over Streamable HTTP at /mcp instead of stdio (port 0: any)
  --token-file <file>   with --http: clients must send Authorization: Bearer <the file's text>
  --max-sessions <n>    with --http: MCP sessions open at once (default 64)
  --idle-ms <ms>        with --http: an MCP session idle this long is closed (default 1800000)
  --startup-ms <ms>     how long the client's initialize waits for the upstreams to start (default
                        5000); one that starts later joins then (notifications/tools/list_changed)
  --on-cancel <what>    a cancelled exec/wait: terminate its cell (default) or detach from it
  --cpu-time-ms <ms>    a cell's CPU time limit (default 60000; 0: none)
  --wall-time-ms <ms>   a cell's wall time limit (default 600000; 0: none)
  --max-result-bytes <n> the most output one exec/wait result returns (default 8 MiB; the rest is
                        cut, saying how much)
  --store <where>       keep the session in a store, sqlite:<file> or postgres:<url> (stdio only):
                        its cells and stored values outlive this process, and the next
                        codecell mcp with the same store and key recovers them (after a crash,
                        once the dead one's lease ends, ~10 s)
  --session-key <key>   with --store: the session's key in it (default mcp); one process at a time
  --otlp-endpoint <url> export traces over OTLP/HTTP (also: OTEL_TRACES_EXPORTER=otlp with the
                        OTEL_EXPORTER_OTLP_* variables); needs the OpenTelemetry SDK
  --help, --version

Upstreams get this process's environment (plus their own "env"); their stderr is forwarded here,
each line prefixed with [name]. An upstream that fails to start is reported and left out.`;

export interface McpIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** The environment (default: this process's): OTEL_* variables turn trace export on. */
  env?: NodeJS.ProcessEnv;
}

/** How long initialize waits for the upstreams at most: within the 10 s some MCP clients give a server to start. */
const DEFAULT_STARTUP_MS = 5_000;

/** How `codecell mcp` serves, from its flags. */
interface McpPlan {
  upstreams: Upstream[];
  limits: Partial<CellLimits>;
  onCancel: 'terminate' | 'detach';
  startupMs: number;
  http: { host: string; port: number; token: string | undefined; maxSessions: number; idleMs: number } | undefined;
  /** Where traces go (this process's and its codecell-host's), if anywhere. */
  traces: TraceExportPlan | undefined;
  /** --store: where the session is kept, under its key. */
  kept: { store: CodeCellStore; key: string } | undefined;
}

const FLAGS = {
  upstream: { type: 'string', multiple: true },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  http: { type: 'string' },
  'token-file': { type: 'string' },
  'max-sessions': { type: 'string' },
  'idle-ms': { type: 'string' },
  'on-cancel': { type: 'string' },
  'startup-ms': { type: 'string' },
  'cpu-time-ms': { type: 'string' },
  'wall-time-ms': { type: 'string' },
  'max-result-bytes': { type: 'string' },
  'otlp-endpoint': { type: 'string' },
  store: { type: 'string' },
  'session-key': { type: 'string' },
} as const;

/** --store sqlite:<file> | postgres:<url> (a bare postgres:// or postgresql:// URL too). */
function storeOf(where: string): CodeCellStore {
  if (where.startsWith('sqlite:') && where.length > 'sqlite:'.length)
    return sqliteStore({ path: where.slice('sqlite:'.length) });
  const url =
    where.startsWith('postgres:') && !where.startsWith('postgres://') ? where.slice('postgres:'.length) : where;
  if (/^postgres(ql)?:\/\/./.test(url)) return postgresStore({ connectionString: url });
  throw new Error(`--store takes sqlite:<file> or postgres:<url>, got ${JSON.stringify(where)}`);
}

/** The plan, or the exit code after help, the version or a mistake. */
async function planOf(args: string[], io: McpIo): Promise<McpPlan | number> {
  const { values } = parseArgs({ args, options: FLAGS });
  if (values.help === true || values.version === true) {
    io.stdout.write(values.help === true ? `${MCP_USAGE}\n` : `codecell ${CODECELL_VERSION}\n`);
    return 0;
  }
  const whole = (flag: keyof typeof FLAGS): number | undefined => wholeNumber(values[flag] as string | undefined, flag);
  // Finite by default (DEFAULT_LIMITS); the flags change them, 0 for none.
  const limits: Partial<CellLimits> = {};
  for (const [flag, limit] of [
    ['cpu-time-ms', 'cpuTimeMs'],
    ['wall-time-ms', 'wallTimeMs'],
    ['max-result-bytes', 'maxResultBytes'],
  ] as const) {
    const value = whole(flag);
    if (value !== undefined) limits[limit] = value;
  }
  if ((limits.maxResultBytes ?? 1024) < 1024) throw new Error('--max-result-bytes must be at least 1024');
  const onCancel = values['on-cancel'] ?? 'terminate';
  if (onCancel !== 'terminate' && onCancel !== 'detach')
    throw new Error(`--on-cancel takes terminate or detach, got ${JSON.stringify(onCancel)}`);
  let http: McpPlan['http'];
  if (values.http !== undefined) {
    const { host, port } = address(values.http, '--http', '127.0.0.1:3000');
    const tokenFile = values['token-file'];
    const token = tokenFile === undefined ? undefined : (await readFile(tokenFile, 'utf8')).trim();
    if (token === '') throw new Error('--token-file holds an empty token');
    if (token === undefined && !isLoopback(host))
      throw new Error(
        `--http ${values.http} is beyond loopback: give --token-file, ` +
          'or anyone who reaches the port runs code with your upstreams',
      );
    http = { host, port, token, maxSessions: whole('max-sessions') ?? 64, idleMs: whole('idle-ms') ?? 1_800_000 };
    if (http.maxSessions < 1 || http.idleMs < 1) throw new Error('--max-sessions and --idle-ms must be at least 1');
  } else {
    const stray = (['token-file', 'max-sessions', 'idle-ms'] as const).find((flag) => values[flag] !== undefined);
    if (stray !== undefined) throw new Error(`--${stray} needs --http`);
  }
  const upstreams = [
    ...(values.config === undefined ? [] : await configFile(values.config)),
    ...(values.upstream ?? []).map(upstreamOf),
  ];
  const traces = traceExportPlan(values['otlp-endpoint'], io.env ?? process.env);
  if (values.store !== undefined && http !== undefined)
    throw new Error('--store keeps the one session of codecell mcp over stdio; it does not go with --http');
  if (values['session-key'] !== undefined && values.store === undefined) throw new Error('--session-key needs --store');
  const kept =
    values.store === undefined ? undefined : { store: storeOf(values.store), key: values['session-key'] ?? 'mcp' };
  const startupMs = whole('startup-ms') ?? DEFAULT_STARTUP_MS;
  return { upstreams, limits, onCancel, startupMs, http, traces, kept };
}

/** Runs the MCP server until its client disconnects (stdio) or a signal (HTTP); resolves with the exit code. */
export async function mcpCommand(args: string[], io: McpIo): Promise<number> {
  let plan: McpPlan | number;
  try {
    plan = await planOf(args, io);
  } catch (error) {
    // One line: what is wrong, and where the usage is.
    io.stderr.write(`codecell mcp: ${messageOf(error)} (codecell mcp --help for the usage)\n`);
    return 2;
  }
  if (typeof plan === 'number') return plan;
  const { upstreams, limits } = plan;
  if (upstreams.length === 0) {
    io.stderr.write(
      'codecell mcp: no upstream server: give --config or --upstream (codecell mcp --help for the usage)\n',
    );
    return 2;
  }
  let traces: TraceExport | undefined;
  try {
    traces = plan.traces === undefined ? undefined : await startTraceExport(plan.traces, 'codecell-mcp');
  } catch (error) {
    io.stderr.write(`codecell mcp: ${messageOf(error)}\n`);
    return 2;
  }

  const forwardLogs = plan.http === undefined;
  const logs = new StdioLogs(io.stdout);
  const upstreamSet = new Upstreams(upstreams, forwardLogs ? logs : undefined, io.stderr);
  // Bounded: the client's initialize is answered after at most --startup-ms; a slow upstream
  // joins when it answers (clients hear notifications/tools/list_changed).
  const { joined, starting, unmatched } = await upstreamSet.start(plan.startupMs);
  if (unmatched.length > 0) {
    // A call meant to wait for a person must never run unasked because of a name.
    for (const message of unmatched) io.stderr.write(`codecell mcp: ${message}\n`);
    await upstreamSet.close();
    return 2;
  }
  if (joined === 0 && starting.length === 0) {
    io.stderr.write('codecell mcp: no upstream server could be started\n');
    await upstreamSet.close();
    return 1;
  }
  if (starting.length > 0)
    io.stderr.write(
      `codecell mcp: ${starting.join(', ')} not started within ${plan.startupMs} ms; ` +
        'each joins when it answers (clients hear notifications/tools/list_changed)\n',
    );
  const logger = { warn: (m: string) => io.stderr.write(`${m}\n`), error: (m: string) => io.stderr.write(`${m}\n`) };
  // Cells run in a codecell-host process: a catastrophic cell costs that host (a fresh one takes
  // over for the next call), never this MCP server.
  // Its cells' spans are the host's: it exports them to the same collector (the standard variables).
  const endpoint = plan.traces?.endpoint;
  const env = endpoint === undefined ? {} : { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint };
  const { kept } = plan;
  const host = await HostClient.spawn({
    processes: 1,
    logger,
    env: { ...(io.env ?? process.env), ...env },
    ...(kept === undefined ? {} : { store: kept.store }),
  });
  const context: McpContext = {
    upstreams: upstreamSet,
    onCancel: plan.onCancel,
    warn: (message) => void io.stderr.write(`${message}\n`),
    servers: logs.servers,
    forwardLogs,
    startSession: async (log, made) => {
      const tools = upstreamSet.tools;
      const delegate = upstreamSet.delegate(log, made);
      const session =
        (kept === undefined ? undefined : await recovered(host, kept.key, delegate, io)) ??
        (await host.createSession(delegate, { tools: [...tools], limits, ...(kept && { key: kept.key }) }));
      return new UpstreamSession(session, tools, upstreamSet);
    },
    keepsSessions: kept !== undefined,
  };
  const code = plan.http === undefined ? await serveStdio(context, io) : await serveHttp(context, plan.http, io);
  await host.close();
  await upstreamSet.close();
  await traces?.stop();
  return code;
}

/**
 * The session kept under `key` by an earlier codecell mcp, adopted once its owner is gone: at
 * once after a clean stop (its lease was let go), after a crash once the lease ends.
 */
async function recovered(
  host: HostClient,
  key: string,
  delegate: SessionRuntimeDelegate,
  io: McpIo,
): Promise<RemoteSession | undefined> {
  const [session] = await host.recover(() => delegate, { keys: [key], waitMs: DEFAULT_LEASE_MS + 2_000 });
  if (session === undefined) return undefined;
  const open = session.cells().length;
  io.stderr.write(`codecell mcp: recovered session ${key} from the store (${open} cell(s) open)\n`);
  return session;
}

/**
 * One MCP session over this process's stdin and stdout, until the client disconnects. Its first
 * message says which revision it speaks: a 2026-07-28 request (its revision in `_meta`) gets the
 * stateless leg (MCP SDK v2, mcp-modern.ts); initialize, as before, a 2025-11-25 session.
 */
async function serveStdio(context: McpContext, io: McpIo): Promise<number> {
  const { first, input } = await firstLine(io.stdin);
  const modern = isModernOpening(first) ? await modernLeg(context, io) : undefined;
  if (modern !== undefined) {
    const { serveStdio: serveModern, StdioServerTransport: ModernStdio } =
      await import('@modelcontextprotocol/server/stdio');
    const ended = new Promise<void>((resolve) => input.once('end', resolve).once('close', resolve));
    const served = serveModern(modern.factory, { transport: new ModernStdio(input, io.stdout), legacy: 'reject' });
    await ended;
    await served.close();
    await modern.close();
    return 0;
  }
  const session = newMcpSession(context);
  const closed = new Promise<void>((resolve) => {
    session.server.onclose = resolve;
    input.once('end', resolve);
  });
  await session.server.connect(new StdioServerTransport(input, io.stdout));
  await closed;
  await session.close();
  return 0;
}

/**
 * The 2026-07-28 leg, when MCP SDK v2 (`@modelcontextprotocol/server`, an optional peer) is
 * installed; without it such requests get what a 2025-11-25 server answers, and a warning says why.
 */
async function modernLeg(context: McpContext, io: McpIo): Promise<ModernMcp | undefined> {
  try {
    return (await import('./mcp-modern.js')).modernMcp(context);
  } catch (error) {
    const { code } = error as { code?: unknown };
    if (code !== 'ERR_MODULE_NOT_FOUND' || !messageOf(error).includes('@modelcontextprotocol/server')) throw error;
    io.stderr.write(
      'codecell mcp: MCP revision 2026-07-28 needs @modelcontextprotocol/server, which is not installed; ' +
        'serving 2025-11-25 only\n',
    );
    return undefined;
  }
}

/** The longest first line read to tell the revision (as the SDK's own stdio buffer bound). */
const MAX_FIRST_LINE_BYTES = 10 * 1024 * 1024;

/** The first line read from `stream` (undefined if it ended first), and the stream again from its start. */
async function firstLine(stream: Readable): Promise<{ first: string | undefined; input: Readable }> {
  const chunks: Buffer[] = [];
  let first: string | undefined;
  let size = 0;
  for (;;) {
    const chunk = stream.read() as Buffer | string | null;
    if (chunk === null) {
      if (stream.readableEnded || stream.destroyed) break;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          stream.off('readable', done).off('end', done).off('close', done);
          resolve();
        };
        stream.on('readable', done).on('end', done).on('close', done);
      });
      continue;
    }
    chunks.push(Buffer.from(chunk));
    size += chunk.length;
    if (size > MAX_FIRST_LINE_BYTES) break; // not a message the sniff reads: the 2025 leg answers it
    if (chunk.indexOf('\n') >= 0) {
      first = Buffer.concat(chunks).toString('utf8').split('\n')[0];
      break;
    }
  }
  const input = new PassThrough();
  input.write(Buffer.concat(chunks));
  stream.pipe(input);
  return { first, input };
}

/** A first message of revision 2026-07-28 or later: a request carrying its revision in `_meta`. */
function isModernOpening(line: string | undefined): boolean {
  try {
    const message = JSON.parse(line ?? '') as { params?: { _meta?: Record<string, unknown> } };
    return typeof message.params?._meta?.['io.modelcontextprotocol/protocolVersion'] === 'string';
  } catch {
    return false;
  }
}

/** MCP sessions over Streamable HTTP, until SIGTERM or SIGINT; 1 when the address cannot be bound. */
async function serveHttp(context: McpContext, options: NonNullable<McpPlan['http']>, io: McpIo): Promise<number> {
  let served: Awaited<ReturnType<typeof serveMcpHttp>>;
  try {
    const warn = (message: string): void => void io.stderr.write(`${message}\n`);
    served = await serveMcpHttp(context, { ...options, warn }, await modernLeg(context, io));
  } catch (error) {
    io.stderr.write(`codecell mcp: cannot listen on ${options.host}:${options.port}: ${messageOf(error)}\n`);
    return 1;
  }
  const stop = Promise.withResolvers<void>();
  process.once('SIGTERM', () => stop.resolve());
  process.once('SIGINT', () => stop.resolve());
  io.stderr.write(`codecell mcp listening on ${served.url}\n`);
  await stop.promise;
  await served.close();
  return 0;
}
