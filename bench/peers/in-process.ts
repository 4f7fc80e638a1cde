// codecell embedded beside the code-mode runtimes that run in Node (`npm run bench -- --peers`):
// TanStack's code mode on its isolated-vm and QuickJS drivers, the AI SDK's code mode and Vercel's
// `run` (both QuickJS on WASI). Each round starts each runtime in a process of its own
// (in-process-child.ts), in an order that turns round by round; every figure is a median over the
// rounds and every output is checked. The peers are installed into a cache folder outside the
// repository on first use, at the versions below; `@cloudflare/codemode` is left out: it has no
// executor for plain Node (its executors need a Worker loader or a browser iframe). Left out of a
// figure, with the reason: TanStack's QuickJS driver from sequential calls (its context aborts the
// process, "Assertion failed: p->ref_count == 0", after a few awaited calls in a row), the AI
// SDK's and `run` from memory per idle session (they keep no session: a context per run).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, round, type ResultRow } from '../common.js';
import { RUNTIMES, SEQUENTIAL_CALLS, type RoundFigures, type Runtime } from './in-process-child.js';

/** The peers, pinned (TanStack's drivers name older peers than they run with: installed with --legacy-peer-deps). */
const PACKAGES = [
  '@tanstack/ai@0.58.0',
  '@tanstack/ai-code-mode@0.3.4',
  '@tanstack/ai-isolate-node@0.1.49',
  '@tanstack/ai-isolate-quickjs@0.1.30',
  '@ai-sdk/code-mode@1.0.42',
  'ai@7.0.173',
  'run@2.1.5',
  'zod@4.6.7',
];
/** What each peer's re-export file (`<name>.mjs` in the folder) exports, so the child loads it from there. */
const ENTRIES: Record<string, string> = {
  'tanstack-isolated-vm': `export * from '@tanstack/ai-isolate-node';`,
  'tanstack-quickjs': `export * from '@tanstack/ai-isolate-quickjs';`,
  'ai-sdk-code-mode': `export * from '@ai-sdk/code-mode';`,
  ai: `export { tool } from 'ai';\nexport { z } from 'zod';`,
  run: `export * from 'run';`,
};
const CHILD = fileURLToPath(new URL('./in-process-child.js', import.meta.url));

const folderOf = (): string =>
  join(
    process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'),
    'codecell-bench',
    `in-process-peers-node${process.versions.node.split('.')[0]}`,
  );

/** The peers' folder: found, installed there when `install`, else undefined. */
export function findInProcessPeers(install: boolean): string | undefined {
  const folder = folderOf();
  const marker = join(folder, 'installed.json');
  const installed = existsSync(marker);
  if (installed || !install) return installed ? folder : undefined;
  console.log(`installing the in-process peers into ${folder}…`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'package.json'), '{ "private": true, "type": "module" }\n');
  const args = ['install', '--prefix', folder, '--no-audit', '--no-fund', '--legacy-peer-deps', ...PACKAGES];
  const result = spawnSync('npm', args, { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`could not install the in-process peers (npm exited ${result.status})`);
  for (const [name, text] of Object.entries(ENTRIES)) writeFileSync(join(folder, `${name}.mjs`), `${text}\n`);
  writeFileSync(marker, JSON.stringify(PACKAGES));
  return folder;
}

function roundOf(runtime: Runtime, folder: string): RoundFigures {
  const child = spawnSync(process.execPath, ['--no-node-snapshot', CHILD, runtime, folder], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  check(child.status === 0, `${runtime} exited ${child.status}: ${child.stderr.slice(-1_500)}`);
  const line = child.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as RoundFigures;
}

const FIGURES: { key: keyof RoundFigures; name: string; unit: 'ms' | 'us' | 'KiB'; scale: number }[] = [
  { key: 'text1Ms', name: 'cell latency, text(1) as each runs a cell', unit: 'ms', scale: 1 },
  { key: 'sequentialUs', name: `tool calls, ${SEQUENTIAL_CALLS} sequential, per call`, unit: 'us', scale: 1 },
  { key: 'batchedUs', name: 'tool calls in batches of 16, per call', unit: 'us', scale: 1 },
  { key: 'slowParallelMs', name: '16 parallel calls of a 5 ms tool, the cell', unit: 'ms', scale: 1 },
  { key: 'idleSessionBytes', name: 'memory per idle session (RSS)', unit: 'KiB', scale: 1 / 1024 },
];

/** The peers' rows (none when they are not installed and `install` is false). */
export async function inProcessPeers({ quick, install }: { quick: boolean; install: boolean }): Promise<ResultRow[]> {
  const folder = findInProcessPeers(install);
  if (folder === undefined) {
    console.log('in-process peers: not installed (npm run bench -- --peers installs them)');
    return [];
  }
  const rounds = quick ? 1 : 5;
  const figures = new Map<Runtime, RoundFigures[]>(RUNTIMES.map((runtime) => [runtime, []]));
  const load = loadavg().map((value) => round(value));
  for (let r = 0; r < rounds; r++) {
    const order = RUNTIMES.map((_, i) => RUNTIMES[(i + r) % RUNTIMES.length] as Runtime);
    for (const runtime of order) figures.get(runtime)?.push(roundOf(runtime, folder));
  }
  const rows: ResultRow[] = [];
  for (const { key, name, unit, scale } of FIGURES) {
    const medianOf = (runtime: Runtime): number | undefined => {
      const values = (figures.get(runtime) ?? []).map((figure) => figure[key]);
      if (values.some((value) => value === null)) return undefined;
      return ((values as number[]).sort((a, b) => a - b)[values.length >> 1] as number) * scale;
    };
    const ours = medianOf('codecell');
    for (const runtime of RUNTIMES) {
      const median = medianOf(runtime);
      if (median === undefined) continue;
      const row: ResultRow = {
        name: `in-process peers, ${name}: ${runtime}`,
        unit,
        median: round(median),
        p99: round(median),
        samples: rounds,
      };
      if (runtime !== 'codecell' && ours !== undefined)
        Object.assign(row, { ratio: round(ours / median), baseline: `codecell ÷ ${runtime}` });
      rows.push(row);
    }
  }
  console.log(`in-process peers: load average ${load.join(' ')} at the start, ${loadavg().map(round).join(' ')} after`);
  return rows;
}

// `node dist/bench/peers/in-process.js`: this comparison alone (installing the peers), rows printed.
if (process.argv[1] === fileURLToPath(import.meta.url))
  for (const row of await inProcessPeers({ quick: process.argv.includes('--quick'), install: true }))
    console.log(
      `${row.name}: ${row.median} ${row.unit}${row.ratio === undefined ? '' : `  (${row.ratio} ${row.baseline})`}`,
    );
