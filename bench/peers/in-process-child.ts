// One in-process code-mode runtime in a process of its own, timed on the peers' workloads
// (bench/peers/in-process.ts starts it): `node in-process-child.js <runtime> <peers folder>`.
// It prints one JSON line of figures. Each runtime runs alone in its process: two copies of
// isolated-vm (TanStack's driver brings its own) abort a process that loads both.
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { check } from '../common.js';
import { inProcess, type BenchSession } from './subject.js';

export const RUNTIMES = ['codecell', 'tanstack-isolated-vm', 'tanstack-quickjs', 'ai-sdk-code-mode', 'run'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** The figures of one round: times in µs per call, ms per cell; bytes per idle session. */
export interface RoundFigures {
  text1Ms: number;
  /** null for TanStack's QuickJS driver: its context aborts the process after a few sequential awaited calls. */
  sequentialUs: number | null;
  batchedUs: number;
  slowParallelMs: number;
  idleSessionBytes: number | null;
}

/** The workloads' sizes. */
export const SEQUENTIAL_CALLS = 1_000;
const TEXT_CELLS = 20;
const BATCHES = 25;
const BATCH = 16;
const SLOW_CELLS = 5;
const SLOW_TOOL_MS = 5;
const IDLE_SESSIONS = 200;

type Tool = (input: { i: number }) => Promise<{ i: number }>;

/** A runtime's session: runs a cell whose source is in its dialect, to the text it produced. */
interface PeerSession {
  run(source: string): Promise<string>;
  close(): Promise<void>;
}

/** How a runtime's cells call a tool and give a value back. */
interface Dialect {
  call(tool: 'echo' | 'slow', input: string): string;
  emit(expression: string): string;
}

/** codecell's sessions have one tool, `echo`, which waits 5 ms when its input says `slow`. */
const codecellDialect: Dialect = {
  call: (_tool, input) => `tools.echo(${input})`,
  emit: (expression) => `text(String(${expression}))`,
};
/** TanStack binds each tool as a global function; a cell's value is what it returns. */
const tanstackDialect: Dialect = {
  call: (tool, input) => `${tool}(${input})`,
  emit: (expression) => `return ${expression}`,
};
const toolsDialect: Dialect = {
  call: (tool, input) => `tools.${tool}(${input})`,
  emit: (expression) => `return ${expression}`,
};

/** The AI SDK's and `run`'s bounds on a run's host calls (256 in all, 32 at once) raised for the workloads. */
const BRIDGE = { maxBridgeRequests: 10 * SEQUENTIAL_CALLS, maxInFlightBridgeRequests: 64 };

const echo: Tool = async (input) => input;
const slow: Tool = (input) => new Promise((resolve) => setTimeout(() => resolve(input), SLOW_TOOL_MS));

/** Imports a package from the peers' folder (its re-export file there, peers/<name>.mjs). */
async function peer<T>(folder: string, name: string): Promise<T> {
  return (await import(pathToFileURL(join(folder, `${name}.mjs`)).href)) as T;
}

/**
 * How a runtime runs cells: its dialect, and a session. A cell of codecell runs in a session that
 * outlives it (each cell still gets a fresh isolate); TanStack's code mode makes a context per
 * cell and disposes it after (`fresh`), as the AI SDK's and `run` do inside each run.
 */
interface Opener {
  dialect: Dialect;
  open: () => Promise<PeerSession>;
  fresh: boolean;
}

async function opener(runtime: Runtime, folder: string): Promise<Opener> {
  switch (runtime) {
    case 'codecell':
      return {
        dialect: codecellDialect,
        fresh: false,
        open: async () => {
          const session: BenchSession = await inProcess.openSession((input) =>
            (input as { slow?: boolean }).slow === true ? slow(input as { i: number }) : input,
          );
          return {
            run: async (source) => {
              const outcome = await session.run(source);
              check(outcome.error === undefined, `codecell cell failed: ${outcome.error}`);
              return outcome.text.join('');
            },
            close: () => session.close(),
          };
        },
      };
    case 'tanstack-isolated-vm':
    case 'tanstack-quickjs': {
      type Driver = { createContext(config: object): Promise<TanstackContext> };
      type TanstackContext = {
        execute(code: string): Promise<{ success: boolean; value?: unknown; error?: unknown }>;
        dispose(): Promise<void>;
      };
      const driver: Driver =
        runtime === 'tanstack-isolated-vm'
          ? (
              await peer<{ createNodeIsolateDriver(o: object): Driver }>(folder, 'tanstack-isolated-vm')
            ).createNodeIsolateDriver({ skipProbe: true })
          : (
              await peer<{ createQuickJSIsolateDriver(o?: object): Driver }>(folder, 'tanstack-quickjs')
            ).createQuickJSIsolateDriver();
      const binding = (name: string, execute: Tool): object => ({ name, description: name, inputSchema: {}, execute });
      const bindings = { echo: binding('echo', echo), slow: binding('slow', slow) };
      return {
        dialect: tanstackDialect,
        fresh: true,
        open: async () => {
          const context = await driver.createContext({ bindings });
          return {
            run: async (source) => {
              const result = await context.execute(source);
              check(result.success, `${runtime} cell failed: ${JSON.stringify(result.error)}`);
              return String(result.value);
            },
            close: () => context.dispose(),
          };
        },
      };
    }
    case 'ai-sdk-code-mode': {
      const { experimental_runCodeMode: runCodeMode } = await peer<{
        experimental_runCodeMode(input: { js: string; tools: object; options: object }): Promise<unknown>;
      }>(folder, 'ai-sdk-code-mode');
      const { tool, z } = await peer<{ tool(o: object): object; z: { object(o: object): object; number(): object } }>(
        folder,
        'ai',
      );
      const schema = z.object({ i: z.number() });
      const tools = {
        echo: tool({ description: 'echo', inputSchema: schema, execute: echo }),
        slow: tool({ description: 'slow', inputSchema: schema, execute: slow }),
      };
      return {
        dialect: toolsDialect,
        fresh: true,
        open: async () => ({
          run: async (js) => String(await runCodeMode({ js, tools, options: { executionPolicy: BRIDGE } })),
          close: async () => {},
        }),
      };
    }
    case 'run': {
      const { run } = await peer<{
        run(input: {
          source: string;
          hostFunctions: object;
          limits: object;
        }): Promise<{ status: string; value?: unknown }>;
      }>(folder, 'run');
      const hostFunctions = { tools: { echo, slow } };
      return {
        dialect: toolsDialect,
        fresh: true,
        open: async () => ({
          run: async (source) => {
            const result = await run({ source, hostFunctions, limits: BRIDGE });
            check(result.status === 'completed', `run: ${JSON.stringify(result)}`);
            return String(result.value);
          },
          close: async () => {},
        }),
      };
    }
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] as number;

/** A `text(1)` cell's latency (ms), run as the runtime runs a cell (its context made and disposed if `fresh`). */
async function text1({ open, dialect, fresh }: Opener, session: PeerSession): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < TEXT_CELLS; i++) {
    const start = performance.now();
    const own = fresh ? await open() : session;
    check((await own.run(dialect.emit('1'))) === '1', 'a text(1) cell');
    if (fresh) await own.close();
    times.push(performance.now() - start);
  }
  return median(times);
}

async function sequential(session: PeerSession, dialect: Dialect): Promise<number> {
  const source =
    `let s = 0; for (let i = 0; i < ${SEQUENTIAL_CALLS}; i++) s += (await ${dialect.call('echo', '{ i }')}).i; ` +
    dialect.emit('s');
  const start = performance.now();
  check((await session.run(source)) === String((SEQUENTIAL_CALLS * (SEQUENTIAL_CALLS - 1)) / 2), 'sequential calls');
  return ((performance.now() - start) * 1000) / SEQUENTIAL_CALLS;
}

async function batched(session: PeerSession, dialect: Dialect): Promise<number> {
  const source =
    `let n = 0; for (let b = 0; b < ${BATCHES}; b++) { const r = await Promise.all(Array.from({ length: ${BATCH} }, ` +
    `(_, i) => ${dialect.call('echo', '{ i }')})); n += r.length } ` +
    dialect.emit('n');
  const start = performance.now();
  check((await session.run(source)) === String(BATCHES * BATCH), 'batched calls');
  return ((performance.now() - start) * 1000) / (BATCHES * BATCH);
}

/** 16 calls at once of a tool that takes 5 ms: one cell's wall time (ms), median of SLOW_CELLS. */
async function slowParallel(session: PeerSession, dialect: Dialect): Promise<number> {
  const source =
    `const r = await Promise.all(Array.from({ length: ${BATCH} }, (_, i) => ${dialect.call('slow', '{ i, slow: true }')})); ` +
    dialect.emit('r.reduce((s, x) => s + x.i, 0)');
  const times: number[] = [];
  for (let i = 0; i < SLOW_CELLS; i++) {
    const start = performance.now();
    check((await session.run(source)) === String((BATCH * (BATCH - 1)) / 2), 'slow parallel calls');
    times.push(performance.now() - start);
  }
  return median(times);
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The resident set each idle session adds: IDLE_SESSIONS sessions that ran one cell each. */
async function idleSessionBytes(open: () => Promise<PeerSession>, dialect: Dialect): Promise<number> {
  const settle = async (): Promise<number> => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return process.memoryUsage().rss;
  };
  // One session first, kept apart: the process's one-off costs (compiled code, warm caches) are not a session's.
  const first = await open();
  check((await first.run(dialect.emit('1'))) === '1', 'a first session ran a cell');
  const before = await settle();
  const sessions: PeerSession[] = [first];
  for (let i = 0; i < IDLE_SESSIONS; i++) {
    const session = await open();
    check((await session.run(dialect.emit('1'))) === '1', 'an idle session ran a cell');
    sessions.push(session);
  }
  const after = await settle();
  for (const session of sessions) await session.close();
  return (after - before) / (sessions.length - 1);
}

export async function measure(runtime: Runtime, folder: string): Promise<RoundFigures> {
  const runtimeOpener = await opener(runtime, folder);
  const { dialect, open, fresh } = runtimeOpener;
  const session = await open();
  /** A workload in the session, or (a runtime that makes a context per cell) in a fresh one, made untimed. */
  const inSession = async (workload: (session: PeerSession, dialect: Dialect) => Promise<number>): Promise<number> => {
    if (!fresh) return workload(session, dialect);
    const own = await open();
    try {
      return await workload(own, dialect);
    } finally {
      await own.close();
    }
  };
  // Memory first, before the workloads' garbage (and their isolates' freed pages) moves the resident set.
  const idle = runtime === 'ai-sdk-code-mode' || runtime === 'run' ? null : await idleSessionBytes(open, dialect);
  const sequentialWorks = runtime !== 'tanstack-quickjs';
  // Warm-up: each runtime's code compiled before it is timed.
  await inSession(sequentialWorks ? sequential : batched);
  await text1(runtimeOpener, session);
  const figures: RoundFigures = {
    text1Ms: await text1(runtimeOpener, session),
    sequentialUs: sequentialWorks ? await inSession(sequential) : null,
    batchedUs: await inSession(batched),
    slowParallelMs: await inSession(slowParallel),
    // The QuickJS runtimes of the AI SDK and `run` keep no session between cells.
    idleSessionBytes: idle,
  };
  await session.close();
  return figures;
}

// Run as a child (not imported by in-process.ts, whose own process has flags of its own).
const [runtime, folder] = process.argv[1] === fileURLToPath(import.meta.url) ? process.argv.slice(2) : [];
if (runtime !== undefined && folder !== undefined) {
  check((RUNTIMES as readonly string[]).includes(runtime), `unknown runtime ${runtime}`);
  console.log(JSON.stringify(await measure(runtime as Runtime, folder)));
  process.exit(0);
}
