// codecell beside its peers and floors, interleaved round by round in one process: in-process,
// over stdio (codecell-host processes behind one HostClient), the Codex host when installed, a
// bare length-prefixed pipe, and raw isolated-vm. Every per-call figure is a percentile of the
// individual calls of all rounds; ratios are of medians from the same run.
import { availableParallelism } from 'node:os';
import { check, round, Samples, sequentialCalls, type ResultRow } from './common.js';
import { bareHosts, isolateFloor, isolateHostFloor, pipeFloor } from './peers/baselines.js';
import { CodexHost, CODEX_VERSION, findCodexHost } from './peers/codex.js';
import { inProcess, overNetwork, overStdio, type BenchSession, type BenchSubject } from './peers/subject.js';

const SEQUENTIAL_CALLS = 200;
const BATCHES = 25;
const BATCH = 16;
const LATENCY_CELLS = 20;
const LOAD = { sessions: 100, cells: 20, calls: 5 };
/** The load's rounds, in alternating order: its cells/s is one figure per round (issue 66 asks for ≥ 5). */
const LOAD_ROUNDS = 5;

export interface CompareOptions {
  quick: boolean;
  /** Install the Codex host into the cache when it is missing. */
  peers: boolean;
}

/** Runs a cell of sequential calls, then one of batched calls; the per-call times (µs). */
async function toolRoundTrips(
  session: BenchSession,
  arrivals: number[],
): Promise<{ sequential: number[]; batched: number[] }> {
  arrivals.length = 0;
  const cell = sequentialCalls(SEQUENTIAL_CALLS);
  const sequential = await session.run(cell.source);
  check(
    sequential.error === undefined && sequential.text[0] === cell.sum,
    `sequential cell: ${JSON.stringify(sequential)}`,
  );
  const gaps = arrivals.slice(1).map((time, i) => (time - (arrivals[i] ?? time)) * 1000);
  // A batch of BATCH concurrent calls from one cell; per call: the cell's wall time over its
  // BATCHES batches, divided by the calls (one figure per cell, the same for every subject).
  const batchStart = performance.now();
  const batched = await session.run(
    `let n = 0; for (let b = 0; b < ${BATCHES}; b++) { const r = await Promise.all(Array.from({ ` +
      `length: ${BATCH} }, (_, i) => tools.echo({ i }))); n += r.length } text(String(n))`,
  );
  const perCall = ((performance.now() - batchStart) * 1000) / (BATCHES * BATCH);
  check(
    batched.error === undefined && batched.text[0] === String(BATCHES * BATCH),
    `batched cell: ${JSON.stringify(batched)}`,
  );
  return { sequential: gaps, batched: [perCall] };
}

async function cellLatencies(session: BenchSession, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const outcome = await session.run('text(1)');
    times.push(performance.now() - start);
    check(outcome.text.join() === '1', `text(1) gave ${JSON.stringify(outcome)}`);
  }
  return times;
}

/** LOAD.sessions concurrent sessions, each running LOAD.cells cells of LOAD.calls calls. */
async function load(subject: BenchSubject, sessions: number): Promise<{ cellsPerSecond: number; latencies: number[] }> {
  const latencies: number[] = [];
  let calls = 0;
  const open = await Promise.all(
    Array.from({ length: sessions }, () => subject.openSession((input) => (calls++, input))),
  );
  const loadCell = sequentialCalls(LOAD.calls);
  const start = performance.now();
  await Promise.all(
    open.map(async (session) => {
      for (let cell = 0; cell < LOAD.cells; cell++) {
        const cellStart = performance.now();
        const outcome = await session.run(loadCell.source);
        latencies.push(performance.now() - cellStart);
        check(outcome.text[0] === loadCell.sum, `load cell: ${JSON.stringify(outcome)}`);
      }
    }),
  );
  const elapsed = performance.now() - start;
  await Promise.all(open.map((session) => session.close()));
  check(calls === sessions * LOAD.cells * LOAD.calls, `${calls} load tool calls`);
  return { cellsPerSecond: (sessions * LOAD.cells * 1000) / elapsed, latencies };
}

export async function compare({ quick, peers }: CompareOptions): Promise<ResultRow[]> {
  const codexBinary = findCodexHost(peers);
  const subjects: BenchSubject[] = [
    inProcess,
    await overStdio('codecell stdio'),
    await overNetwork('codecell WebSocket', 1),
  ];
  if (codexBinary !== undefined) subjects.push(new CodexHost(codexBinary));
  const samples = new Samples();
  await measureRounds(subjects, samples, quick ? 3 : 10);
  await measureLoad(subjects, samples, quick);
  const rows = samples.rows();
  annotate(rows, codexBinary === undefined ? undefined : 'Codex host');
  return rows;
}

/** The floors and each subject's round trips and cell latency, interleaved round by round. */
async function measureRounds(subjects: BenchSubject[], samples: Samples, rounds: number): Promise<void> {
  const pipe = pipeFloor();
  const bareHost = isolateHostFloor(true);
  const bareUntracked = isolateHostFloor(false);
  const raw = await isolateFloor();
  const arrivals = new Map<BenchSubject, number[]>(subjects.map((subject) => [subject, []]));
  const sessions = new Map<BenchSubject, BenchSession>();
  for (const subject of subjects) {
    const times = arrivals.get(subject) ?? [];
    sessions.set(subject, await subject.openSession((input) => (times.push(performance.now()), input)));
  }
  for (let r = 0; r < rounds; r++) {
    // Each round starts with a different subject, so none always runs first (or last).
    const order = subjects.map((_, i) => subjects[(i + r) % subjects.length] as BenchSubject);
    samples.add(PIPE_FLOOR, 'us', await pipe.roundTrips(SEQUENTIAL_CALLS));
    samples.add(BARE_HOST_FLOOR, 'us', await bareHost.roundTrips(SEQUENTIAL_CALLS));
    samples.add(`${BARE_HOST_FLOOR}, delivery untracked`, 'us', await bareUntracked.roundTrips(SEQUENTIAL_CALLS));
    samples.add('floor: raw isolated-vm call into an isolate', 'us', await raw.intoIsolate(SEQUENTIAL_CALLS));
    samples.add(RAW_OUT_FLOOR, 'us', await raw.outOfIsolate(SEQUENTIAL_CALLS));
    const fresh = await raw.freshIsolates(LATENCY_CELLS);
    samples.add(
      'floor: raw new isolate + context + eval + dispose',
      'ms',
      fresh.map((us) => us / 1000),
    );
    samples.add(BARE_HOST_CELL, 'ms', await cellLatencies(bareHost.session, LATENCY_CELLS));
    for (const subject of order) {
      const session = sessions.get(subject) as BenchSession;
      const trips = await toolRoundTrips(session, arrivals.get(subject) ?? []);
      samples.add(`tool round trip, sequential: ${subject.name}`, 'us', r === 0 ? [] : trips.sequential);
      samples.add(`${BATCHED}: ${subject.name}`, 'us', r === 0 ? [] : trips.batched);
      samples.add(`${LATENCY}: ${subject.name}`, 'ms', await cellLatencies(session, LATENCY_CELLS));
    }
  }
  for (const session of sessions.values()) await session.close();
  await pipe.close();
  await bareHost.close();
  await bareUntracked.close();
  raw.close();
}

/** Many sessions at once on each subject (and on more processes or hosts), in both orders. */
async function measureLoad(subjects: BenchSubject[], samples: Samples, quick: boolean): Promise<void> {
  const loadSessions = quick ? 20 : LOAD.sessions;
  const loadLabel = `${loadSessions} sessions x ${LOAD.cells} cells x ${LOAD.calls} calls`;
  // On a machine with few cores, more hosts show what the network costs, not how it scales.
  const loadSubjects = [
    ...subjects,
    await overStdio(`codecell stdio, 1 process`, { processes: 1 }),
    await overNetwork('codecell WebSocket, 2 hosts', 2),
    await overNetwork('codecell WebSocket, 4 hosts', 4),
    bareHosts(BARE_HOSTS),
  ];
  const cores = availableParallelism();
  for (let r = 0; r < (quick ? 1 : LOAD_ROUNDS); r++) {
    for (const subject of r % 2 === 0 ? loadSubjects : [...loadSubjects].reverse()) {
      const result = await load(subject, loadSessions);
      const throughput = `load throughput (${loadLabel}, ${cores} cores): ${subject.name}`;
      samples.add(throughput, 'cells/s', [result.cellsPerSecond]);
      samples.add(`load cell latency (${loadLabel}): ${subject.name}`, 'ms', result.latencies);
    }
  }
  for (const subject of loadSubjects) await subject.close();
}

const PIPE_FLOOR = 'floor: bare length-prefixed pipe round trip (Node↔Node)';
const BARE_HOST_FLOOR = 'floor: bare isolated-vm host over a pipe, tool round trip (no codecell code)';
const BARE_HOST_CELL = 'floor: bare isolated-vm host over a pipe, text(1) execute to completed (no codecell code)';
const BARE_HOSTS = `bare isolated-vm hosts, ${availableParallelism()} processes (floor, no codecell code)`;
const RAW_OUT_FLOOR = 'floor: raw isolated-vm async call out of an isolate (cheapest way)';
const BATCHED = `tool calls in batches of ${BATCH}, cell wall time per call`;
const LATENCY = 'cell latency, text(1) execute to completed';

/** Each row's ratio to the Codex host's row of the same figure, and to the floors it is read against. */
function annotate(rows: ResultRow[], codexName: string | undefined): void {
  for (const row of rows) {
    const [figure, subject] = row.name.split(/: (?=[^:]+$)/);
    if (codexName === undefined || subject === codexName || subject === undefined) continue;
    const peer = rows.find((other) => other.name === `${figure}: ${codexName}`);
    if (peer !== undefined)
      Object.assign(row, { ratio: round(row.median / peer.median), baseline: `${codexName} ${CODEX_VERSION}` });
  }
  const against = (name: string, floorName: string, what: string): void => {
    const row = rows.find((candidate) => candidate.name === name);
    const floor = rows.find((candidate) => candidate.name === floorName);
    if (row !== undefined && floor !== undefined)
      row.baseline = `${row.baseline ?? 'no peer'}; ${round(row.median / floor.median)}× ${what}`;
  };
  against('tool round trip, sequential: codecell stdio', PIPE_FLOOR, 'the pipe floor');
  against('tool round trip, sequential: codecell stdio', BARE_HOST_FLOOR, 'the bare isolated-vm host');
  against(`${LATENCY}: codecell stdio`, BARE_HOST_CELL, 'the bare isolated-vm host');
  if (codexName !== undefined) {
    against(BARE_HOST_FLOOR, `tool round trip, sequential: ${codexName}`, codexName);
    against(BARE_HOST_CELL, `${LATENCY}: ${codexName}`, codexName);
  }
  for (const figure of ['tool round trip, sequential', BATCHED, LATENCY])
    against(`${figure}: codecell WebSocket`, `${figure}: codecell stdio`, 'codecell stdio');
  const throughput = rows.find((row) => row.name.startsWith('load throughput'))?.name.split(/: (?=[^:]+$)/)[0];
  against(`${throughput}: codecell stdio`, `${throughput}: ${BARE_HOSTS}`, 'the bare isolated-vm hosts');
  against('tool round trip, sequential: codecell in-process', RAW_OUT_FLOOR, 'the raw async call out of an isolate');
  if (codexName === undefined)
    rows.push({
      name: `Codex host ${CODEX_VERSION}: not installed (npm run bench -- --peers)`,
      unit: 'us',
      median: Number.NaN,
      p99: Number.NaN,
      samples: 0,
    });
}
