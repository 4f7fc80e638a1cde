// `npm run bench:instructions`: the instructions codecell runs, counted by valgrind's callgrind,
// for a sequential tool round trip over stdio and for a `text(1)` cell over stdio, on each side
// and each stage: the client process, the host's main thread (its JavaScript, the wire) and its
// other threads (the isolate's — the sandbox — and V8's helpers), against the bare isolated-vm
// host (peers/isolate-host-child.ts) and its bare client. A count does not move with the machine's
// load, where the timed round trip of one build moves by a third between runs on these VMs
// (compare.ts). Each side is counted in its own process, as the difference of a long and a short
// run over the difference of their work: start-up cancels out, but not V8's tiering. Between the
// 300th and the 4 800th call each function run per call is compiled by Maglev, then TurboFan (on
// V8's helper threads), and runs meanwhile in code that calls IC builtins: the short window counts
// that warm-up with the calls. `-- --steady` adds a window of calls 14 400 to 28 800, after both
// processes' code has settled (about 25 minutes more; ADR 20). `-- --variant rehome-off` adds
// codecell without re-homing (a diagnosis: what durability costs). `-- --runs 3` counts each
// stage three times and takes the median: one count moves by a few thousand instructions from run
// to run (the messages batch differently as the timing under valgrind differs). The in-process
// round trip is a stage of its own: one process, all its threads, codecell embedded against raw
// isolated-vm calls out of an isolate (the cheaper of an awaited `Reference.apply` and an async
// `Callback`; `applySyncPromise`, which blocks the isolate's thread, is counted beside them);
// `-- --in-process` counts that stage alone. Beside it, codecell embedded with a store (a SQLite
// file): what durability costs per call and per cell (a cell there never waits for a result);
// and without a journal: what the journal costs (ADR 23).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST_NODE_FLAGS } from '../host/wire/host-process.js';
import { check, round, sequentialCalls, writeResults, type ResultRow } from './common.js';
import { isolateHostFloor, wrapped } from './peers/baselines.js';
import { embeddedSession, overStdio, type BenchSession } from './peers/subject.js';
import { sqliteStore } from '../src/index.js';
import { rawCalls, RAW_WAYS, type RawWay } from './peers/raw-calls.js';

/** Each workload's short and long run: its unit of work, and how many of them. */
const WORKLOADS = {
  'round trip': { short: 300, long: 4_800, unit: 'round trip' },
  'text(1) cell': { short: 20, long: 220, unit: 'cell' },
  'steady round trip': { short: 14_400, long: 28_800, unit: 'round trip' },
} as const;
type Workload = keyof typeof WORKLOADS;
type Subject =
  'codecell' | 'rehome-off' | 'bare' | 'in-process' | 'in-process, store' | 'in-process, no journal' | RawWay;
type Side = 'host' | 'client';

const SELF = fileURLToPath(import.meta.url);
const HOST_MAIN = fileURLToPath(new URL('../host/bin/codecell-host.js', import.meta.url));
/** A side under valgrind runs ~50× slower: the client waits this long before it gives a host up. */
const PATIENT_MS = 600_000;

const callgrind = (out: string, threads: boolean): string[] => [
  'valgrind',
  '--tool=callgrind',
  '--smc-check=all',
  ...(threads ? ['--separate-threads=yes'] : []),
  `--callgrind-out-file=${out}`,
];

/** Runs the workload `count` times through `session` (its own check that each ran whole). */
async function work(session: BenchSession, workload: Workload, count: number): Promise<void> {
  if (workload === 'text(1) cell') {
    for (let i = 0; i < count; i++) check((await session.run('text(1)')).text[0] === '1', 'a text(1) cell');
    return;
  }
  const cell = sequentialCalls(count);
  const outcome = await session.run(cell.source);
  check(outcome.text[0] === cell.sum, `round trips: ${JSON.stringify(outcome)}`);
}

/** The client's role: the workload `count` times on the subject's host (under valgrind when `hostOut` is set). */
async function client(subject: Subject, workload: Workload, count: number, hostOut: string | undefined): Promise<void> {
  if (subject.startsWith('in-process')) {
    // With a store: a SQLite file, each call's records written before it goes on (SPEC §16).
    // Without a journal: what the journal costs (both wait for results in process: ADR 23).
    const file = join(tmpdir(), `codecell-instructions-${process.pid}.db`);
    const store = subject === 'in-process, store' ? sqliteStore({ path: file }) : undefined;
    const limits = subject === 'in-process, no journal' ? { journalMaxBytes: 0 } : undefined;
    const session = embeddedSession((input) => input, PATIENT_MS, {
      ...(store && { store }),
      ...(limits && { limits }),
    });
    await session.run('text(0)');
    await work(session, workload, count);
    await session.close();
    await store?.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
    return;
  }
  if ((RAW_WAYS as readonly string[]).includes(subject)) return rawCalls(subject as RawWay, count);
  const wrapper = hostOut === undefined ? [] : callgrind(hostOut, true);
  if (subject === 'bare') {
    const floor = isolateHostFloor(true, wrapper);
    await work(floor.session, workload, count);
    return floor.close();
  }
  const { command, args } = wrapped(wrapper, [process.execPath, ...HOST_NODE_FLAGS, HOST_MAIN]);
  const options = { command, args, processes: 1, livenessTimeoutMs: PATIENT_MS, rehome: subject !== 'rehome-off' };
  const host = await overStdio(subject, options, PATIENT_MS);
  const session = await host.openSession((input) => input);
  await session.run('text(0)'); // the session's first cell: its one-off costs in both runs
  await work(session, workload, count);
  await session.close();
  await host.close();
}

/** A side's count: the client process in all; the host's main thread and its other threads apart. */
type Count = { main: number; others: number };

/** Sums callgrind's per-thread files `<out>-NN` (the main thread is 01). */
function totals(out: string): Count {
  const count: Count = { main: 0, others: 0 };
  const files = readdirSync(dirname(out)).filter((name) => name.startsWith(`${basename(out)}-`));
  check(files.length > 0, `no callgrind output at ${out}`);
  for (const name of files) {
    const path = join(dirname(out), name);
    const total = /^(?:summary|totals): (\d+)/m.exec(readFileSync(path, 'utf8'));
    rmSync(path, { force: true });
    check(total !== null, `no callgrind total in ${path}`);
    if (name.endsWith('-01')) count.main += Number(total[1]);
    else count.others += Number(total[1]);
  }
  return count;
}

/** The instructions one side's process ran over `count` units of work (this script again, as the client). */
function run(subject: Subject, side: Side, workload: Workload, count: number): Count {
  const out = join(tmpdir(), `codecell-instructions-${process.pid}-${subject}-${side}-${count}.out`);
  const line = ['--no-node-snapshot', SELF, 'client', subject, workload, String(count)];
  const { command, args } =
    side === 'client'
      ? wrapped(callgrind(out, true), [process.execPath, ...line])
      : { command: process.execPath, args: [...line, out] };
  const ran = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  check(
    ran.status === 0,
    `${subject} ${side} (${count} × ${workload}) exited ${ran.status}: ${ran.stderr.slice(-2_000)}`,
  );
  return totals(out);
}

/** The stages of one subject for one workload, per unit of work. */
interface Stages {
  client: number;
  hostMain: number;
  hostOthers: number;
}

function stagesOf(subject: Subject, workload: Workload): Stages {
  const { short, long } = WORKLOADS[workload];
  const per = (side: Side): Count => {
    const [a, b] = [run(subject, side, workload, long), run(subject, side, workload, short)];
    return { main: (a.main - b.main) / (long - short), others: (a.others - b.others) / (long - short) };
  };
  const client = per('client');
  const host = per('host');
  return { client: client.main + client.others, hostMain: host.main, hostOthers: host.others };
}

/** An in-process subject's instructions per unit of work: its one process, all threads (median of `runs`). */
function inProcessCount(subject: Subject, workload: Workload, runs: number): number {
  const { short, long } = WORKLOADS[workload];
  const once = (): number => {
    const [a, b] = [run(subject, 'client', workload, long), run(subject, 'client', workload, short)];
    return (a.main + a.others - b.main - b.others) / (long - short);
  };
  const counts = Array.from({ length: runs }, once).sort((a, b) => a - b);
  return counts[(runs - 1) >> 1] as number;
}

/** The in-process stage: codecell embedded against the raw isolated-vm floor, per unit of work. */
function inProcessRows(workload: 'round trip' | 'text(1) cell', runs: number): ResultRow[] {
  const { short, long, unit } = WORKLOADS[workload];
  const floors: RawWay[] =
    workload === 'round trip' ? ['raw apply', 'raw callback', 'raw applySyncPromise'] : ['raw cell'];
  const counted = floors.map((way) => ({ way, count: inProcessCount(way, workload, runs) }));
  const asyncFloors = counted.filter(({ way }) => way !== 'raw applySyncPromise');
  const floor = asyncFloors.reduce((low, next) => (next.count < low.count ? next : low));
  const codecell = inProcessCount('in-process', workload, runs);
  const stored = inProcessCount('in-process, store', workload, runs);
  const unjournaled = inProcessCount('in-process, no journal', workload, runs);
  const row = (name: string, instructions: number, ratio?: number): ResultRow => ({
    name: `instructions per ${workload} in process, ${name}`,
    unit: 'instructions',
    median: Math.round(instructions),
    p99: Math.round(instructions),
    samples: long - short,
    ...(ratio === undefined ? {} : { ratio: round(ratio), baseline: `${floor.way} (the raw floor)` }),
  });
  console.log(
    `${workload} in process: codecell ${Math.round(codecell)}; ` +
      counted.map(({ way, count }) => `${way} ${Math.round(count)}`).join(', ') +
      `; ${round(codecell / floor.count)}× ${floor.way} per ${unit}; with a store ${Math.round(stored)} ` +
      `(durability ${Math.round(stored - codecell)}); without a journal ${Math.round(unjournaled)}`,
  );
  return [
    ...counted.map(({ way, count }) => row(way, count)),
    row('codecell', codecell, codecell / floor.count),
    row("codecell's own (less the raw floor)", codecell - floor.count),
    row('codecell with a store (a SQLite file)', stored, stored / floor.count),
    row("durability's share (with a store less without)", stored - codecell),
    row(
      'codecell without a journal (journalMaxBytes 0: what the journal costs)',
      unjournaled,
      unjournaled / floor.count,
    ),
  ];
}

/** Each stage's median over `runs` counts of it (the lower of the middle two for an even number). */
function medianStages(subject: Subject, workload: Workload, runs: number): Stages {
  const counts = Array.from({ length: runs }, () => stagesOf(subject, workload));
  const median = (stage: keyof Stages): number =>
    counts.map((count) => count[stage]).sort((a, b) => a - b)[(runs - 1) >> 1] as number;
  return { client: median('client'), hostMain: median('hostMain'), hostOthers: median('hostOthers') };
}

/** `--runs N` (1 to 9; 1 when not given): how many times each stage is counted. */
function runsOf(argv: readonly string[]): number {
  const at = argv.indexOf('--runs');
  if (at < 0) return 1;
  const runs = Number(argv[at + 1]);
  check(
    Number.isInteger(runs) && runs >= 1 && runs <= 9,
    `--runs takes a whole number from 1 to 9, not ${argv[at + 1]}`,
  );
  return runs;
}

async function main(): Promise<void> {
  check(spawnSync('valgrind', ['--version']).status === 0, 'valgrind is not installed (apt-get install valgrind)');
  const variants = process.argv.includes('--variant') ? (['rehome-off'] as const) : [];
  const steady = process.argv.includes('--steady');
  const runs = runsOf(process.argv);
  const loadAverageBefore = loadavg().map(round);
  const rows: ResultRow[] = [];
  const stageNames = { client: 'client process', hostMain: "host's main thread", hostOthers: "host's other threads" };
  const only = process.argv.includes('--in-process') ? 'in-process' : undefined;
  rows.push(...inProcessRows('round trip', runs), ...inProcessRows('text(1) cell', runs));
  for (const workload of Object.keys(WORKLOADS) as Workload[]) {
    if ((workload === 'steady round trip' && !steady) || only === 'in-process') continue;
    const { short, long, unit } = WORKLOADS[workload];
    const bare = medianStages('bare', workload, runs);
    for (const subject of ['codecell', ...variants] as const) {
      const counted = medianStages(subject, workload, runs);
      const own =
        counted.client + counted.hostMain + counted.hostOthers - (bare.client + bare.hostMain + bare.hostOthers);
      const who = subject === 'codecell' ? 'codecell' : 'codecell, rehome: false';
      console.log(
        `${workload}, ${who} (bare host): ${Object.entries(stageNames)
          .map(
            ([key, name]) =>
              `${name} ${Math.round(counted[key as keyof Stages])} (${Math.round(bare[key as keyof Stages])})`,
          )
          .join(', ')}; ` + `codecell's own ${Math.round(own)} per ${unit}`,
      );
      for (const [key, name] of Object.entries(stageNames)) {
        const stage = key as keyof Stages;
        const row = (label: string, instructions: number): ResultRow => ({
          name: `instructions per ${workload} over stdio, ${name}: ${label}`,
          unit: 'instructions',
          median: Math.round(instructions),
          p99: Math.round(instructions),
          samples: long - short,
        });
        if (subject === 'codecell') rows.push(row('bare isolated-vm host', bare[stage]));
        rows.push({
          ...row(who, counted[stage]),
          ratio: round(counted[stage] / bare[stage]),
          baseline: 'the bare isolated-vm host',
        });
      }
      rows.push({
        name: `instructions per ${workload} over stdio, ${who}'s own (all stages less the bare host's)`,
        unit: 'instructions',
        median: Math.round(own),
        p99: Math.round(own),
        samples: long - short,
      });
    }
  }
  const method = `counted by valgrind (callgrind)${runs === 1 ? '' : `, median of ${runs} runs`}`;
  const machine = { node: process.version, cores: availableParallelism(), cpu: method };
  const loadAverageAfter = loadavg().map(round);
  if (only !== undefined) return console.log(`--in-process: rows not written (not every stage was counted)`);
  writeResults(
    { ...machine, loadAverageBefore, loadAverageAfter },
    rows,
    new URL('../../bench/results/instructions.json', import.meta.url),
  );
  console.log('rows written to bench/results/instructions.json');
}

const [role, subject, workload, count, hostOut] = process.argv.slice(2);
if (role === 'client') await client(subject as Subject, workload as Workload, Number(count), hostOut);
else await main();
