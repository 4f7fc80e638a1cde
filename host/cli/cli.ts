// host/cli/ — the command line: `codecell run` and the `codecell` dispatch (this file), `codecell
// mcp` (mcp.ts and its parts), codecell-host's arguments (host-args.ts) and the demo of `npm
// start` (demo.ts). It imports src/, wire/, client/ and tools/; only the entry points in host/bin/
// import it.
//
// `codecell run <file|-> [--tools <tools.json|module>] [--yield <ms>] [--ts] [--json]`: runs one
// cell for a person, showing its output, tool calls and notifications as they happen (its tools:
// run-tools.ts).
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import { isCodeCellError, type CellEvent, type CellStreamEvent, type OutputItem } from '../../src/index.js';
import { CODECELL_VERSION, DEFAULT_YIELD_MS, messageOf } from '../../src/internal.js';
import { HostClient } from '../client/client.js';
import { wholeNumber } from './host-args.js';
import { loadTools, type ToolSetup } from './run-tools.js';

const USAGE = `usage: codecell run <file|-> [--tools <tools.json|module>] [--yield <ms>] [--ts] [--json]
                    [--cpu-time-ms <ms>] [--wall-time-ms <ms>]
       codecell mcp [--config <mcp.json>] [--upstream [name=]"<command> [args...]"] ...
       codecell --help | --version

  <file|->          the cell's source (- reads standard input); a .ts file is TypeScript
  --tools <path>    a JSON file of tool definitions, each with an optional canned "result",
                    or a module exporting { tools, delegate } (or a default of that shape;
                    the delegate's notify is optional)
  --yield <ms>      how often to report that the cell is still running (default 10000)
  --ts              the cell is TypeScript (default: by the file's extension, else detected)
  --json            print only the final CellEvent as JSON
  --cpu-time-ms <ms>  the cell's CPU time limit (default 60000; 0: none)
  --wall-time-ms <ms> the cell's wall time limit (default 600000; 0: none)

The cell's output goes to standard output; tool calls, notifications and progress to standard
error. Exit status: 0 the cell completed, 1 it failed or was terminated, 2 bad usage.`;

async function readSource(file: string, stdin: NodeJS.ReadableStream): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  let text = '';
  for await (const chunk of stdin) text += String(chunk);
  return text;
}

function describeItem(item: OutputItem): string {
  if (item.type === 'text') return item.text;
  const mime = /^data:([^;,]+)/.exec(item.imageUrl)?.[1] ?? 'image';
  return `[image ${mime}, ${item.imageUrl.length} bytes, detail ${item.detail}]`;
}

function describeEvent(event: CellStreamEvent): string | undefined {
  switch (event.type) {
    case 'output':
      return describeItem(event.item);
    case 'toolCall':
      const namespace = event.tool.namespace === undefined ? '' : `${event.tool.namespace}/`;
      return `→ ${event.callId} ${namespace}${event.tool.name}(${JSON.stringify(event.input)})`;
    case 'toolResult':
      return event.ok ? `← ${event.callId} ok` : `← ${event.callId} failed: ${event.error ?? ''}`;
    case 'notification':
      return `• ${event.text}`;
    case 'gap':
      return `[${event.dropped} event(s) dropped]`;
    case 'replayed':
      return `[its host ${event.from} was lost: it runs on from its journal on ${event.to}]`;
    case 'paused':
      return `[paused at ${event.event.callId} ${event.event.tool.name}: ${JSON.stringify(event.event.payload)}]`;
    case 'resumed':
      return `[resumed: ${event.callId} has its outcome]`;
    case 'closed':
      return undefined;
  }
}

export interface RunIo {
  stdout: Writable;
  stderr: Writable;
  stdin: NodeJS.ReadableStream;
}

/** What `codecell run` was asked to do. */
interface RunPlan {
  file: string;
  source: string;
  setup: ToolSetup;
  yieldMs: number;
  typescript: boolean;
  json: boolean;
  limits: { cpuTimeMs?: number; wallTimeMs?: number };
}

/** Runs the command; resolves with the process exit code (0 ok, 1 failed cell, 2 bad usage). */
export async function runCommand(args: string[], io: RunIo): Promise<number> {
  const plan = await planRun(args, io);
  if (typeof plan === 'number') return plan;
  // The cell runs in a codecell-host child: whatever the cell does to V8, this process exits
  // with a clear message and a status of its own.
  const logger = { warn: (m: string) => io.stderr.write(`${m}\n`), error: (m: string) => io.stderr.write(`${m}\n`) };
  // One cell, no session to keep: a host lost is reported as such (the cell's own end).
  const client = await HostClient.spawn({ logger, rehome: false });
  try {
    const event = await runCell(client, plan, io);
    if (plan.json) io.stdout.write(`${JSON.stringify(event)}\n`);
    else if (event.kind === 'completed' && event.error !== undefined) io.stderr.write(`${event.error}\n`);
    else if (event.kind === 'terminated') {
      const detail = event.detail === undefined ? '' : `: ${event.detail}`;
      io.stderr.write(`cell terminated (${event.reason ?? 'requested'}${detail})\n`);
    }
    return event.kind === 'completed' && event.error === undefined ? 0 : 1;
  } catch (error) {
    if (isCodeCellError(error) && error.code === 'ERR_HOST_EXITED') {
      const why = "V8 lost control of the cell's isolate, usually by running out of memory";
      io.stderr.write(`codecell run: the cell's host process died (${error.message}); ${why}\n`);
      return 1;
    }
    io.stderr.write(`codecell run: ${messageOf(error)}\n`);
    return 2;
  } finally {
    await client.close();
  }
}

/** The plan from the arguments, the file and the tools; or the exit code of bad usage (or --help). */
async function planRun(args: string[], io: RunIo): Promise<RunPlan | number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        tools: { type: 'string' },
        yield: { type: 'string' },
        ts: { type: 'boolean' },
        json: { type: 'boolean' },
        'cpu-time-ms': { type: 'string' },
        'wall-time-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    io.stderr.write(`codecell run: ${messageOf(error)}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const yieldMs = values.yield === undefined ? DEFAULT_YIELD_MS : Number(values.yield);
  if (positionals.length !== 1 || !Number.isFinite(yieldMs) || yieldMs < 0) {
    const why = positionals.length !== 1 ? 'expected one file (or -)' : '--yield must be a number of ms >= 0';
    io.stderr.write(`codecell run: ${why}\n${USAGE}\n`);
    return 2;
  }
  const file = positionals[0] ?? '-';
  try {
    const limits: RunPlan['limits'] = {};
    const cpuTimeMs = wholeNumber(values['cpu-time-ms'], 'cpu-time-ms');
    const wallTimeMs = wholeNumber(values['wall-time-ms'], 'wall-time-ms');
    if (cpuTimeMs !== undefined) limits.cpuTimeMs = cpuTimeMs;
    if (wallTimeMs !== undefined) limits.wallTimeMs = wallTimeMs;
    const source = await readSource(file, io.stdin);
    const setup = await loadTools(values.tools);
    return { file, source, setup, yieldMs, typescript: values.ts === true, json: values.json === true, limits };
  } catch (error) {
    io.stderr.write(`codecell run: ${messageOf(error)}\n`);
    return 2;
  }
}

/** Runs the cell to its end, its output streamed (unless --json); resolves with its terminal event. */
async function runCell(client: HostClient, plan: RunPlan, io: RunIo): Promise<CellEvent> {
  const runtime = await client.createSession(plan.setup.delegate, { tools: plan.setup.tools, limits: plan.limits });
  const start = performance.now();
  const language = plan.typescript || /\.[mc]?ts$/.test(plan.file) ? 'typescript' : 'auto';
  const filename = plan.file === '-' ? undefined : basename(plan.file);
  const { cellId, initialEvent } = await runtime.execute(
    { source: plan.source, language, ...(filename === undefined ? {} : { filename }) },
    { kind: 'yieldAfter', ms: plan.yieldMs },
  );
  const streamed = plan.json
    ? Promise.resolve()
    : (async () => {
        for await (const event of runtime.events(cellId)) {
          const line = describeEvent(event);
          // The cell's output on stdout (pipe it on); what it did on the way on stderr.
          if (line !== undefined) (event.type === 'output' ? io.stdout : io.stderr).write(`${line}\n`);
        }
      })();
  let event: CellEvent = await initialEvent;
  while (event.kind === 'yielded' || event.kind === 'pending') {
    const seconds = ((performance.now() - start) / 1000).toFixed(1);
    if (!plan.json) io.stderr.write(`… cell ${cellId} still running (${seconds} s)\n`);
    event = await runtime.observe(cellId, { kind: 'yieldAfter', ms: plan.yieldMs });
  }
  await streamed;
  return event;
}

/** `codecell mcp` needs the MCP SDK, an optional peer dependency the runtime itself does not use. */
const MCP_SDK_MISSING =
  'codecell mcp needs @modelcontextprotocol/sdk, which is not installed: npm install @modelcontextprotocol/sdk';

function isMissingModule(error: unknown, name: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String(message).includes(name);
}

export async function main(argv: string[], io: RunIo & { stdin: NodeJS.ReadableStream }): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    io.stdout.write(`codecell ${CODECELL_VERSION}\n`);
    return 0;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command === 'run') return runCommand(rest, io);
  if (command === 'mcp') {
    let mcp: typeof import('./mcp.js');
    try {
      mcp = await import('./mcp.js');
    } catch (error) {
      if (!isMissingModule(error, '@modelcontextprotocol/sdk')) throw error;
      io.stderr.write(`${MCP_SDK_MISSING}\n`);
      return 2;
    }
    return mcp.mcpCommand(rest, { stdin: io.stdin as Readable, stdout: io.stdout, stderr: io.stderr });
  }
  io.stderr.write(`codecell: unknown command ${command ?? '(none)'}\n${USAGE}\n`);
  return 2;
}
