// The floors codecell's figures are read against: a bare Node↔process pipe round trip with plain
// length-prefixed framing, bare isolated-vm hosts (the least any isolated-vm host in Node does for
// a tool call or a load of cells), and isolated-vm's own costs (a call into an isolate, a call out
// of one, a fresh isolate's life).
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { loadIsolatedVm } from '../../src/isolate/load.js';
import { check, sequentialCalls } from '../common.js';
import { LengthPrefixedFrames, writeFrame } from './frames.js';
import type { BenchSession, BenchSubject, ToolHandler } from './subject.js';

/** A child process echoing every frame it reads (the same framing as the parent's). */
const ECHO_CHILD = fileURLToPath(new URL('./echo-child.js', import.meta.url));

export interface PipeFloor {
  /** `count` sequential round trips of a tool-call-sized JSON message; each one's time (µs). */
  roundTrips(count: number): Promise<number[]>;
  close(): Promise<void>;
}

export function pipeFloor(): PipeFloor {
  const child = spawn(process.execPath, [ECHO_CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
  let onAnswer: (() => void) | undefined;
  const frames = new LengthPrefixedFrames((body) => {
    check((JSON.parse(body) as { result?: unknown }).result !== undefined, 'pipe floor echo');
    onAnswer?.();
  });
  child.stdout.on('data', (chunk: Buffer) => frames.push(chunk));
  return {
    roundTrips: async (count) => {
      const times: number[] = [];
      for (let i = 0; i < count; i++) {
        const start = performance.now();
        const answered = new Promise<void>((resolve) => (onAnswer = resolve));
        writeFrame(
          child.stdin,
          JSON.stringify({
            jsonrpc: '2.0',
            id: i,
            method: 'tool/invoke',
            params: { sessionId: 's1', cellId: 'c1', tool: { name: 'echo' }, input: { i } },
          }),
        );
        await answered;
        times.push((performance.now() - start) * 1000);
      }
      return times;
    },
    close: async () => {
      child.stdin.end();
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/** A command line run under `wrapper` (a command and its arguments: valgrind's), or as it is when that is empty. */
export function wrapped(wrapper: readonly string[], line: readonly string[]): { command: string; args: string[] } {
  const [command = process.execPath, ...args] = [...wrapper, ...line];
  return { command, args };
}

/** Bare isolated-vm host children (isolate-host-child.ts), answered here with the cell's tool. */
const ISOLATE_HOST_CHILD = fileURLToPath(new URL('./isolate-host-child.js', import.meta.url));

type Outcome = { text: string[]; error: string | undefined };

/** One bare host child: cells sent to it run at once, each in its own fresh isolate. */
class BareHost {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #cells = new Map<number, { tool: ToolHandler; done(outcome: Outcome): void }>();
  #nextCell = 0;

  /** `wrapper`: a command the child runs under, with its arguments (valgrind, for bench/instructions.ts). */
  constructor(tracked: boolean, wrapper: string[] = []) {
    const args = [...process.execArgv, ISOLATE_HOST_CHILD, ...(tracked ? [] : ['--untracked'])];
    const { command, args: line } = wrapped(wrapper, [process.execPath, ...args]);
    this.#child = spawn(command, line, { stdio: ['pipe', 'pipe', 'inherit'] });
    const frames = new LengthPrefixedFrames((body) => {
      const message = JSON.parse(body) as { cell: number; id?: number; input?: unknown } & Partial<Outcome>;
      const cell = this.#cells.get(message.cell);
      if (cell === undefined) return;
      if (message.text === undefined)
        return writeFrame(
          this.#child.stdin,
          JSON.stringify({ cell: message.cell, id: message.id, result: cell.tool(message.input) }),
        );
      this.#cells.delete(message.cell);
      cell.done({ text: message.text, error: message.error });
    });
    this.#child.stdout.on('data', (chunk: Buffer) => frames.push(chunk));
  }

  run(source: string, tool: ToolHandler): Promise<Outcome> {
    const cell = ++this.#nextCell;
    return new Promise((done) => {
      this.#cells.set(cell, { tool, done });
      writeFrame(this.#child.stdin, JSON.stringify({ cell, source }));
    });
  }

  /** Cells sent one at a time, `tool` answering their calls (closing it leaves the child running). */
  session(tool: ToolHandler): BenchSession {
    return { run: (source) => this.run(source, tool), close: async () => {} };
  }

  async close(): Promise<void> {
    this.#child.stdin.end();
    if (this.#child.exitCode === null) await new Promise((resolve) => this.#child.once('exit', resolve));
  }
}

export interface IsolateHostFloor extends PipeFloor {
  /** Cells run one at a time in the child, its tool echoing its input. */
  readonly session: BenchSession;
}

/**
 * The floor of a sequential tool call over stdio for an isolated-vm host in Node: a bare host
 * child's cell awaits `count` calls; each call's time is the gap between two arrivals here (as for
 * every subject). `tracked`: the answer enters the isolate by a call whose completion the host
 * waits for; else by applyIgnored. Its `session` gives the floor of a cell's latency: the isolate
 * made when the cell comes (no pool), with no prelude but its tool and `text`.
 */
export function isolateHostFloor(tracked: boolean, wrapper: string[] = []): IsolateHostFloor {
  const host = new BareHost(tracked, wrapper);
  return {
    session: host.session((input) => input),
    roundTrips: async (count) => {
      const arrivals: number[] = [];
      const cell = sequentialCalls(count);
      const outcome = await host.run(cell.source, (input) => (arrivals.push(performance.now()), input));
      check(outcome.text[0] === cell.sum, `bare isolate host: ${JSON.stringify(outcome)}`);
      return arrivals.slice(1).map((time, i) => (time - (arrivals[i] ?? time)) * 1000);
    },
    close: () => host.close(),
  };
}

/**
 * The floor of a load of many sessions: as many bare host children as codecell-host runs by
 * default (one per core), sessions spread over them in turn, every cell in a fresh isolate.
 */
export function bareHosts(name: string): BenchSubject {
  const hosts = Array.from({ length: availableParallelism() }, () => new BareHost(true));
  let next = 0;
  return {
    name,
    openSession: async (tool) => {
      return (hosts[next++ % hosts.length] as BareHost).session(tool);
    },
    close: async () => void (await Promise.all(hosts.map((host) => host.close()))),
  };
}

export interface IsolateFloor {
  /** Sequential host→isolate Reference calls; each one's time (µs). */
  intoIsolate(count: number): Promise<number[]>;
  /**
   * Sequential isolate→host calls the isolate waits for, by each way isolated-vm offers
   * (Reference.apply with a promise result, an async Callback, applySyncPromise); the times (µs)
   * of the cheapest by median: the floor of a tool round trip out of an isolate.
   */
  outOfIsolate(count: number): Promise<number[]>;
  /** New isolate + context + eval + dispose; each one's time (µs). */
  freshIsolates(count: number): Promise<number[]>;
  close(): void;
}

export async function isolateFloor(): Promise<IsolateFloor> {
  const ivm = loadIsolatedVm();
  const isolate = new ivm.Isolate();
  const context = await isolate.createContext();
  const echo = await context.evalClosure('return (x) => x', [], { result: { reference: true } });
  let arrivals: number[] = [];
  const arrive = (value: number): number => {
    arrivals.push(performance.now());
    return value;
  };
  await context.global.set('host', new ivm.Reference(async (value: number) => arrive(value)));
  await context.global.set('hostCallback', new ivm.Callback(arrive, { async: true }));
  const loops = (count: number): string[] => [
    `(async () => { let n = 0; for (let i = 0; i < ${count}; i++) n += await host.apply(undefined, ` +
      `[i], { result: { promise: true } }); return n })()`,
    `(async () => { let n = 0; for (let i = 0; i < ${count}; i++) n += await hostCallback(i); return n })()`,
    `(() => { let n = 0; for (let i = 0; i < ${count}; i++) n += host.applySyncPromise(undefined, [i]); return n })()`,
  ];
  return {
    intoIsolate: async (count) => {
      const times: number[] = [];
      for (let i = 0; i < count; i++) {
        const start = performance.now();
        check((await echo.apply(undefined, [i])) === i, 'raw Reference round trip');
        times.push((performance.now() - start) * 1000);
      }
      return times;
    },
    outOfIsolate: async (count) => {
      let cheapest: number[] = [];
      for (const loop of loops(count)) {
        arrivals = [];
        const sum = (await context.eval(loop, { promise: true })) as number;
        check(sum === (count * (count - 1)) / 2, 'raw isolate→host round trips');
        const gaps = arrivals.slice(1).map((time, i) => (time - (arrivals[i] ?? time)) * 1000);
        if (cheapest.length === 0 || median(gaps) < median(cheapest)) cheapest = gaps;
      }
      return cheapest;
    },
    freshIsolates: async (count) => {
      const times: number[] = [];
      for (let i = 0; i < count; i++) {
        const start = performance.now();
        const fresh = new ivm.Isolate();
        const freshContext = await fresh.createContext();
        await freshContext.eval('1');
        fresh.dispose();
        times.push((performance.now() - start) * 1000);
      }
      return times;
    },
    close: () => isolate.dispose(),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
