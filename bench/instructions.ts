// `npm run bench:instructions`: the instructions of one sequential tool round trip over stdio,
// counted by valgrind's callgrind, on each side: codecell-host and its HostClient, against the bare
// isolated-vm host (peers/isolate-host-child.ts) and its bare client. A count does not move with
// the machine's load, where the timed round trip of one build moves by a third between runs on
// these VMs (compare.ts). Each side is counted in its own process, all its threads together, as
// the difference of a long and a short run over the difference of their calls: start-up and the
// first calls' compilation cancel out. Apart from `npm run bench`: valgrind makes it take minutes.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST_NODE_FLAGS } from '../host/wire/host-process.js';
import { check, round, sequentialCalls, writeResults, type ResultRow } from './common.js';
import { isolateHostFloor, wrapped } from './peers/baselines.js';
import { overStdio } from './peers/subject.js';

const SHORT = 300;
const LONG = 4_800;
type Subject = 'codecell' | 'bare';
type Side = 'host' | 'client';

const SELF = fileURLToPath(import.meta.url);
const HOST_MAIN = fileURLToPath(new URL('../host/bin/codecell-host.js', import.meta.url));
/** A side under valgrind runs ~50× slower: the client waits this long before it gives a host up. */
const PATIENT_MS = 600_000;

const callgrind = (out: string): string[] => [
  'valgrind',
  '--tool=callgrind',
  '--smc-check=all',
  `--callgrind-out-file=${out}`,
];

/** The client's role: `calls` sequential round trips to the subject's host (under valgrind when `hostOut` is set). */
async function roundTrips(subject: Subject, calls: number, hostOut: string | undefined): Promise<void> {
  const wrapper = hostOut === undefined ? [] : callgrind(hostOut);
  if (subject === 'bare') {
    const floor = isolateHostFloor(true, wrapper);
    check((await floor.roundTrips(calls)).length === calls - 1, 'bare host round trips');
    return floor.close();
  }
  const { command, args } = wrapped(wrapper, [process.execPath, ...HOST_NODE_FLAGS, HOST_MAIN]);
  const host = await overStdio('codecell', { command, args, processes: 1, livenessTimeoutMs: PATIENT_MS }, PATIENT_MS);
  const session = await host.openSession((input) => input);
  const cell = sequentialCalls(calls);
  const outcome = await session.run(cell.source);
  check(outcome.text[0] === cell.sum, `codecell round trips: ${JSON.stringify(outcome)}`);
  await session.close();
  await host.close();
}

/** The instructions one side's process ran over `calls` round trips (this script again, as the client). */
function count(subject: Subject, side: Side, calls: number): number {
  const out = join(tmpdir(), `codecell-instructions-${process.pid}-${subject}-${side}-${calls}.out`);
  const client = ['--no-node-snapshot', SELF, 'client', subject, String(calls)];
  const { command, args } =
    side === 'client'
      ? wrapped(callgrind(out), [process.execPath, ...client])
      : { command: process.execPath, args: [...client, out] };
  const run = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  check(run.status === 0, `${subject} ${side} (${calls} calls) exited ${run.status}: ${run.stderr.slice(-2_000)}`);
  const total = /^(?:summary|totals): (\d+)/m.exec(readFileSync(out, 'utf8'));
  rmSync(out, { force: true });
  check(total !== null, `no callgrind total in ${out}`);
  return Number(total[1]);
}

async function main(): Promise<void> {
  check(spawnSync('valgrind', ['--version']).status === 0, 'valgrind is not installed (apt-get install valgrind)');
  const loadAverageBefore = loadavg().map(round);
  const perCall = (subject: Subject, side: Side): number =>
    (count(subject, side, LONG) - count(subject, side, SHORT)) / (LONG - SHORT);
  const rows: ResultRow[] = [];
  for (const side of ['host', 'client'] as const) {
    const codecell = perCall('codecell', side);
    const bare = perCall('bare', side);
    console.log(
      `${side} process: codecell ${Math.round(codecell)}, bare ${Math.round(bare)} instructions per round trip`,
    );
    const row = (who: string, instructions: number): ResultRow => ({
      name: `instructions per sequential tool round trip over stdio, ${side} process: ${who}`,
      unit: 'instructions',
      median: Math.round(instructions),
      p99: Math.round(instructions),
      samples: LONG - SHORT,
    });
    rows.push(row('bare isolated-vm host', bare), {
      ...row('codecell', codecell),
      ratio: round(codecell / bare),
      baseline: 'the bare isolated-vm host',
    });
  }
  const machine = { node: process.version, cores: availableParallelism(), cpu: 'counted by valgrind (callgrind)' };
  const loadAverageAfter = loadavg().map(round);
  writeResults(
    { ...machine, loadAverageBefore, loadAverageAfter },
    rows,
    new URL('../../bench/results/instructions.json', import.meta.url),
  );
  console.log('rows written to bench/results/instructions.json');
}

const [role, subject, calls, hostOut] = process.argv.slice(2);
if (role === 'client') await roundTrips(subject as Subject, Number(calls), hostOut);
else await main();
