// codecell-host's command line: its usage, --help and --version, and the network service's
// options. The process entry (host/bin/codecell-host.ts) asks this module first and serves only when
// it says so.
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { CODECELL_VERSION, DEFAULT_LIMITS, messageOf } from '../../src/internal.js';
import { PROTOCOL_VERSION } from '../wire/protocol.js';
import { traceExportPlan, type TraceExportPlan } from '../server/trace-export.js';

const HOST_USAGE = [
  'usage: codecell-host [--listen <host>:<port> [options]]',
  '',
  'Serves codecell sessions over JSON-RPC 2.0 (docs/protocol.md), logging to standard error.',
  'By default on standard input and output (Content-Length frames); exits 0 once standard input',
  'closes and every session was shut down. Use it through HostClient (codecell/host).',
  '',
  'With --listen, over WebSocket (one JSON-RPC message per WebSocket message), with GET /healthz,',
  '/readyz and /metrics on the same port. SIGTERM drains: new sessions go elsewhere, running ones',
  'are served for --drain-ms, then shut down; exit 0. See docs/scaling.md.',
  '',
  '  --listen <host>:<port>    serve on this address (port 0: any free port)',
  "  --token-file <file>       clients must send Authorization: Bearer <the file's text>",
  '                            (or set CODECELL_TOKEN)',
  '  --tls-cert <file>         PEM certificate: serve wss:// (with --tls-key)',
  '  --tls-key <file>          PEM private key',
  '  --drain-ms <ms>           how long SIGTERM serves running sessions (default 30000)',
  '  --max-connections <n>     connections open at once (default 256)',
  '  --max-sessions <n>        sessions per connection (default 1024)',
  '  --max-cells <n>           live cells per connection (default 1024)',
  '  --memory-budget-mb <n>    MiB all cells may hold at once, each its memoryMb + 40, a paused one its',
  "                            journal (default: the process's memory limit, its cgroup's or the",
  "                            machine's, less 256)",
  "  --max-journal-bytes <n>   the most a cell's journal may hold here (journalMaxBytes; default 16 MiB)",
  "  --cpu-time-ms <ms>        a cell's CPU time where its session sets none (default 60000; 0: none)",
  "  --wall-time-ms <ms>       a cell's wall time where its session sets none (default 600000; 0: none)",
  '  --max-result-bytes <n>    the most output one exec/wait result returns (maxResultBytes; no session',
  '                            may set more; the rest is cut, saying how much; stdio too)',
  '  --otlp-endpoint <url>     export traces over OTLP/HTTP to this collector (also: OTEL_TRACES_EXPORTER=otlp',
  '                            with the OTEL_EXPORTER_OTLP_* variables); needs the OpenTelemetry SDK',
  '  --help                    this text',
  '  --version                 the version and protocol version',
].join('\n');

/** How codecell-host serves: on stdio, or listening on a port; and where its traces go, if anywhere. */
export type HostPlan = {
  traces: TraceExportPlan | undefined;
  /** The host-wide cap on maxResultBytes (--max-result-bytes). */
  maxResultBytes: number | undefined;
} & (
  | { mode: 'stdio' }
  | {
      mode: 'listen';
      host: string;
      port: number;
      token: string | undefined;
      tls: { cert: Buffer; key: Buffer } | undefined;
      drainMs: number;
      maxConnections: number | undefined;
      maxSessions: number | undefined;
      maxCells: number | undefined;
      memoryBudgetMb: number | undefined;
      /** The cap on a cell's journalMaxBytes (a replay or a restore with more is refused). */
      maxJournalBytes: number | undefined;
      /** Session limits where a session sets none (DEFAULT_LIMITS unless given). */
      defaultLimits: { cpuTimeMs: number; wallTimeMs: number };
    }
);

interface Io {
  stdout: Writable;
  stderr: Writable;
  env?: NodeJS.ProcessEnv;
}

/** A plan to serve, or a number: exit with it (after writing help, the version, or the mistake). */
export function hostCommand(args: readonly string[], io: Io): HostPlan | number {
  const fail = (message: string): number => {
    io.stderr.write(`codecell-host: ${message}\n${HOST_USAGE}\n`);
    return 2;
  };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        listen: { type: 'string' },
        'token-file': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'drain-ms': { type: 'string' },
        'max-connections': { type: 'string' },
        'max-sessions': { type: 'string' },
        'max-cells': { type: 'string' },
        'memory-budget-mb': { type: 'string' },
        'max-journal-bytes': { type: 'string' },
        'cpu-time-ms': { type: 'string' },
        'wall-time-ms': { type: 'string' },
        'otlp-endpoint': { type: 'string' },
        'max-result-bytes': { type: 'string' },
      },
    }));
  } catch (error) {
    return fail(messageOf(error));
  }
  if (values.version === true) {
    io.stdout.write(`codecell-host ${CODECELL_VERSION} (protocol ${PROTOCOL_VERSION})\n`);
    return 0;
  }
  if (values.help === true) {
    io.stdout.write(`${HOST_USAGE}\n`);
    return 0;
  }
  let traces: TraceExportPlan | undefined;
  let maxResultBytes: number | undefined;
  try {
    traces = traceExportPlan(values['otlp-endpoint'] as string | undefined, io.env ?? process.env);
    maxResultBytes = wholeNumber(values['max-result-bytes'] as string | undefined, 'max-result-bytes');
    if (maxResultBytes !== undefined && maxResultBytes < 1024)
      throw new Error('--max-result-bytes must be at least 1024');
  } catch (error) {
    return fail(messageOf(error));
  }
  const listen = values.listen as string | undefined;
  if (listen === undefined) {
    const stray = [
      'token-file',
      'tls-cert',
      'tls-key',
      'drain-ms',
      'max-connections',
      'max-sessions',
      'max-cells',
      'memory-budget-mb',
      'max-journal-bytes',
      'cpu-time-ms',
      'wall-time-ms',
    ].find((name) => values[name] !== undefined);
    return stray === undefined ? { mode: 'stdio', traces, maxResultBytes } : fail(`--${stray} needs --listen`);
  }
  try {
    return {
      mode: 'listen',
      traces,
      maxResultBytes,
      ...address(listen),
      ...listenOptions(values, io.env ?? process.env),
    };
  } catch (error) {
    return fail(messageOf(error));
  }
}

/** `<host>:<port>` (`[::1]:port` for IPv6) as the flag `flag` takes it. */
export function address(text: string, flag = '--listen', example = '127.0.0.1:7077'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || port > 65_535)
    throw new Error(`${flag} takes <host>:<port> (e.g. ${example}), got ${JSON.stringify(text)}`);
  return { host: (match[1] ?? match[2]) as string, port };
}

/** A flag's whole number (undefined when the flag was not given). */
export function wholeNumber(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)))
    throw new Error(`--${flag} takes a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

function listenOptions(
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): Omit<Extract<HostPlan, { mode: 'listen' }>, 'mode' | 'host' | 'port' | 'traces' | 'maxResultBytes'> {
  const file = (name: string): Buffer | undefined => {
    const path = values[name] as string | undefined;
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`--${name}: cannot read ${path}: ${messageOf(error)}`, { cause: error });
    }
  };
  const count = (name: string): number | undefined => wholeNumber(values[name] as string | undefined, name);
  const tokenFile = file('token-file');
  const token = tokenFile === undefined ? env.CODECELL_TOKEN : tokenFile.toString('utf8').trim();
  if (token !== undefined && token.trim() === '')
    throw new Error(tokenFile === undefined ? 'CODECELL_TOKEN is empty' : '--token-file holds an empty token');
  const cert = file('tls-cert');
  const key = file('tls-key');
  if ((cert === undefined) !== (key === undefined)) throw new Error('--tls-cert and --tls-key go together');
  const maxConnections = count('max-connections');
  const maxSessions = count('max-sessions');
  const maxCells = count('max-cells');
  const memoryBudgetMb = count('memory-budget-mb');
  if (maxConnections === 0 || maxSessions === 0 || maxCells === 0 || memoryBudgetMb === 0)
    throw new Error('--max-connections, --max-sessions, --max-cells and --memory-budget-mb must be at least 1');
  return {
    token: token?.trim(),
    tls: cert === undefined || key === undefined ? undefined : { cert, key },
    drainMs: count('drain-ms') ?? 30_000,
    maxConnections,
    maxSessions,
    maxCells,
    memoryBudgetMb,
    maxJournalBytes: count('max-journal-bytes'),
    defaultLimits: {
      cpuTimeMs: count('cpu-time-ms') ?? DEFAULT_LIMITS.cpuTimeMs,
      wallTimeMs: count('wall-time-ms') ?? DEFAULT_LIMITS.wallTimeMs,
    },
  };
}
