// The engine soak (`npm run soak:engines`, issue 87, STYLE 34–35): many cells on DBOS and on
// Restate (the real engines, started here), their worker killed with -9 at random moments again
// and again, then codecell's promise checked against the effects file the tools wrote (worker.ts):
//   - each cell ends once, completed, and prints its one line;
//   - a call that is not idempotent takes effect at most once; once, if the cell was told `ok`;
//     zero or one times if it was told it is in doubt, and then the result lists it in `inDoubt`;
//   - an idempotent call told `ok` took effect at least once, always under one idempotency key.
//   node dist/bench/engines/soak.js [--engine dbos|restate] [--seconds 60] [--wave 20] [--mutant]
// Each worker, until the time is up, gets a new wave of cells beside the ones still running.
// `--mutant` declares `charge` idempotent (it is not): the check must then find a charge made twice,
// or the soak proves nothing. A kill must fall in a window of a few milliseconds for that, so a
// mutant soak on an engine that saw nothing runs again, up to three times in all, each with its own
// server and effects. Exits 1 on a violation (0 with --mutant only if one was found on each engine).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, startPostgres } from '../../test/postgres-server.js';
import { startRestate } from '../../test/restate-server.js';
import { inDoubtMessage, SOAK_CELL } from './cell.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));
const { values } = parseArgs({
  options: {
    engine: { type: 'string', multiple: true },
    seconds: { type: 'string', default: '60' },
    wave: { type: 'string', default: '20' },
    mutant: { type: 'boolean', default: false },
  },
});
const engines = values.engine ?? ['dbos', 'restate'];
const seconds = Number(values.seconds);
const wave = Number(values.wave);
const idsTo = (count: number): string[] => Array.from({ length: count }, (_, i) => `soak-${i + 1}`);

interface CellResult {
  kind: string;
  items: { text: string }[];
  inDoubt: { callId: string; tool: string }[];
}

/** What a soak on one engine leaves: each cell's result, the kills, the cells started. */
interface Soaked {
  results: Map<string, CellResult>;
  kills: number;
  cells: number;
}

interface Worker {
  out(): string;
  /** Whether it has exited. */
  gone(): boolean;
  exited: Promise<unknown>;
  kill(): Promise<void>;
}

function worker(args: string[]): Worker {
  const child = spawn(process.execPath, ['--no-node-snapshot', WORKER, ...args, ...(values.mutant ? ['mutant'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RESTATE_LOGGING: 'ERROR' },
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = once(child, 'exit');
  return {
    out: () => out,
    gone: () => child.exitCode !== null || child.signalCode !== null,
    exited,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once a tool call takes effect (the effects file grows), the worker exits, or 10 s pass. */
async function madeOneMore(effects: string, running: Worker): Promise<void> {
  const before = statSync(effects).size;
  for (const until = Date.now() + 10_000; Date.now() < until && !running.gone(); await sleep(10))
    if (statSync(effects).size > before) return;
}
/**
 * A random pause before the next kill, so kills land in every part of a cell's life: up to `ms`
 * after the worker's first call took effect. Half of them land within 150 ms, while the wave's
 * first calls (each takes up to 150 ms) are still taking effect one by one: that is where a kill
 * falls between a call's effect and the engine's record of it, the window the check is about.
 */
const pause = (ms: number): Promise<void> => sleep(Math.random() * (Math.random() < 0.5 ? 150 : ms));

/** Runs the cells on DBOS with kills for `seconds`, then lets a worker finish: their results. */
async function onDbos(effects: string): Promise<Soaked> {
  const server = await startPostgres();
  if ('skip' in server) throw new Error(server.skip);
  try {
    const url = server.createDatabase('soak');
    const results = new Map<string, CellResult>();
    const read = (out: string): void => {
      for (const line of out.split('\n'))
        if (line.startsWith('result ')) {
          const [, id, ...json] = line.split(' ');
          results.set(id ?? '', JSON.parse(json.join(' ')) as CellResult);
        }
    };
    let cells = 0;
    let kills = 0;
    for (const until = Date.now() + seconds * 1_000; Date.now() < until; kills++) {
      cells += wave;
      const next = worker(['dbos', effects, url, String(cells)]);
      while (!next.out().includes('launched\n') && !next.gone()) await sleep(20);
      await madeOneMore(effects, next); // the kill lands while the cells make their calls
      await Promise.race([pause(600), next.exited]);
      await next.kill();
      read(next.out());
    }
    const last = worker(['dbos', effects, url, String(cells)]);
    await last.exited;
    read(last.out());
    return { results, kills, cells };
  } finally {
    server.stop();
  }
}

/** Runs the cells on Restate with kills for `seconds`, then lets a worker finish: their results. */
async function onRestate(effects: string): Promise<Soaked> {
  // Restate's own inactivity timeout: a suspension between a call's `started` and the call would
  // report it in doubt though it was never made (docs/restate.md), and this soak is about kills.
  const server = await startRestate({ suspendAfter: '1m' });
  if ('skip' in server) throw new Error(server.skip);
  try {
    const port = await freePort();
    const serve = async (): Promise<Worker> => {
      const started = worker(['restate', effects, String(port)]);
      while (!started.out().includes('listening\n'))
        if (started.gone()) throw new Error(`a Restate worker ended:\n${started.out()}`);
        else await sleep(20);
      return started;
    };
    let current = await serve();
    await server.register(`http://127.0.0.1:${port}`);
    const results = new Map<string, CellResult>();
    const submit = async (id: string): Promise<void> => {
      const sent = await fetch(`${server.ingress}/codecell/${id}/run/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(SOAK_CELL),
      });
      if (sent.status !== 202) throw new Error(`${id}: ${sent.status} ${await sent.text()}`);
      const ended = await fetch(`${server.ingress}/restate/workflow/codecell/${id}/attach`);
      results.set(id, JSON.parse(await ended.text()) as CellResult);
    };
    const attached: Promise<void>[] = [];
    let cells = 0;
    let kills = 0;
    for (const until = Date.now() + seconds * 1_000; Date.now() < until; kills++) {
      attached.push(
        ...idsTo(cells + wave)
          .slice(cells)
          .map(submit),
      );
      cells += wave;
      await madeOneMore(effects, current);
      await pause(600);
      await current.kill();
      current = await serve();
    }
    // Every cell ends once the kills stop; one that has not within a minute is stuck, and is reported.
    await Promise.race([Promise.all(attached), sleep(60_000)]);
    await current.kill();
    return { results, kills, cells };
  } finally {
    await server.stop();
  }
}

/** codecell's promise, checked against what the tools wrote: the violations found. */
function check(
  { results, cells }: Soaked,
  effects: string,
  prefix: string,
): { violations: string[]; figures: Record<string, number> } {
  const made = new Map<string, number>();
  for (const line of readFileSync(effects, 'utf8')
    .split('\n')
    .filter((row) => row !== '')) {
    const { key, tool } = JSON.parse(line) as { key: string; tool: string };
    made.set(`${tool} ${key}`, (made.get(`${tool} ${key}`) ?? 0) + 1);
  }
  const violations: string[] = [];
  const figures = { cells: results.size, calls: 0, inDoubt: 0, remade: 0 };
  const calls = [
    ['charge', 'tool-1', 'c'],
    ['rate', 'tool-2', 'r'],
    ['lookup', 'tool-3', 'l'],
  ] as const;
  for (const id of idsTo(cells)) {
    const result = results.get(id);
    if (result === undefined) {
      violations.push(`${id}: no result`);
      continue;
    }
    if (result.kind !== 'completed' || result.items.length !== 1) {
      violations.push(`${id}: ended ${result.kind} with ${result.items.length} lines: ${JSON.stringify(result)}`);
      continue;
    }
    const told = JSON.parse(result.items[0]?.text ?? '{}') as Record<string, string>;
    for (const [tool, callId, field] of calls) {
      const times = made.get(`${tool} ${prefix}:${id}:1:${callId}`) ?? 0;
      const said = told[field];
      const listed = result.inDoubt.some((entry) => entry.callId === callId);
      figures.calls += times;
      if (tool === 'rate') {
        if (said !== 'ok:done' || times < 1) violations.push(`${id}: rate told ${said}, made ${times} times`);
        if (times > 1) figures.remade++;
      } else if (said === 'ok:done') {
        if (times !== 1) violations.push(`${id}: ${tool} told ok, made ${times} times`);
      } else if (said === `err:${inDoubtMessage(tool)}`) {
        figures.inDoubt++;
        if (times > 1 || !listed) violations.push(`${id}: ${tool} in doubt, made ${times} times, listed ${listed}`);
      } else violations.push(`${id}: ${tool} told ${said}`);
    }
  }
  return { violations, figures };
}

/** One soak on `engine` with a fresh server and effects file: what it found, printed. */
async function soak(engine: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'codecell-engine-soak-'));
  const effects = join(dir, 'effects.jsonl');
  writeFileSync(effects, '');
  const started = Date.now();
  try {
    const soaked = engine === 'dbos' ? await onDbos(effects) : await onRestate(effects);
    const { violations, figures } = check(soaked, effects, engine);
    const took = ((Date.now() - started) / 1_000).toFixed(0);
    console.log(
      `${engine}: ${soaked.kills} kills in ${took} s (load ${loadavg()[0]?.toFixed(1)}), ${figures.cells} cells ended, ` +
        `${figures.calls} calls took effect, ${figures.inDoubt} in doubt, ${figures.remade} idempotent calls made again, ` +
        `${violations.length} violations`,
    );
    for (const violation of violations.slice(0, 10)) console.log(`  ${violation}`);
    return violations;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let failed = false;
for (const engine of engines) {
  if (!values.mutant) {
    failed ||= (await soak(engine)).length > 0;
    continue;
  }
  let caught = false;
  for (let round = 1; round <= 3 && !caught; round++) caught = (await soak(engine)).length > 0;
  console.log(`${engine}: ${caught ? 'the mutant was caught' : 'the mutant went unseen in three soaks'}`);
  failed ||= !caught;
}
process.exit(failed ? 1 : 0);
