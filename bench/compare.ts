// codecell beside its peers and floors, interleaved round by round in one process: in-process,
// over stdio (codecell-host processes behind one HostClient), the Codex host when installed, a
// bare length-prefixed pipe, and raw isolated-vm. Every per-call figure is a percentile of the
// individual calls of all rounds; ratios are of medians from the same run.
import { availableParallelism } from 'node:os';
import { check, type ResultRow } from './common.js';
import { isolateFloor, pipeFloor } from './peers/baselines.js';
import { CodexHost, CODEX_VERSION, findCodexHost } from './peers/codex.js';
import { inProcess, overNetwork, overStdio, type BenchSession, type BenchSubject } from './peers/subject.js';

const SEQUENTIAL_CALLS = 200;
const BATCHES = 25;
const BATCH = 16;
const LATENCY_CELLS = 20;
const LOAD = { sessions: 100, cells: 20, calls: 5 };

export interface CompareOptions {
  quick: boolean;
  /** Install the Codex host into the cache when it is missing. */
  peers: boolean;
}

const round = (value: number): number => Math.round(value * 1000) / 1000;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? Number.NaN;
}

/** Samples by row name, in the order rows were first measured. */
class Samples {
  readonly #rows = new Map<string, { unit: ResultRow['unit']; values: number[] }>();

  add(name: string, unit: ResultRow['unit'], values: number[]): void {
    const row = this.#rows.get(name) ?? { unit, values: [] };
    row.values.push(...values);
    this.#rows.set(name, row);
  }

  rows(): ResultRow[] {
    return [...this.#rows].map(([name, { unit, values }]) => ({
      name,
      unit,
      median: round(percentile(values, 0.5)),
      p99: round(percentile(values, 0.99)),
      samples: values.length,
    }));
  }
}

/** Runs a cell of sequential calls, then one of batched calls; the per-call times (µs). */
async function toolRoundTrips(
  session: BenchSession,
  arrivals: number[],
): Promise<{ sequential: number[]; batched: number[] }> {
  arrivals.length = 0;
  const sequential = await session.run(
    `let n = 0; for (let i = 0; i < ${SEQUENTIAL_CALLS}; i++) n += (await tools.echo({ i })).i; text(String(n))`,
  );
  check(
    sequential.error === undefined && sequential.text[0] === String((SEQUENTIAL_CALLS * (SEQUENTIAL_CALLS - 1)) / 2),
    `sequential cell: ${JSON.stringify(sequential)}`,
  );
  const gaps = arrivals.slice(1).map((time, i) => (time - (arrivals[i] ?? time)) * 1000);
  arrivals.length = 0;
  const batched = await session.run(
    `let n = 0; for (let b = 0; b < ${BATCHES}; b++) { const r = await Promise.all(Array.from({ length: ${BATCH} }, (_, i) => tools.echo({ i }))); n += r.length } text(String(n))`,
  );
  check(
    batched.error === undefined && batched.text[0] === String(BATCHES * BATCH),
    `batched cell: ${JSON.stringify(batched)}`,
  );
  const starts = arrivals.filter((_, i) => i % BATCH === 0);
  return { sequential: gaps, batched: starts.slice(1).map((time, i) => ((time - (starts[i] ?? time)) * 1000) / BATCH) };
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
  const start = performance.now();
  await Promise.all(
    open.map(async (session) => {
      for (let cell = 0; cell < LOAD.cells; cell++) {
        const cellStart = performance.now();
        const outcome = await session.run(
          `let n = 0; for (let i = 0; i < ${LOAD.calls}; i++) n += (await tools.echo({ i })).i; text(String(n))`,
        );
        latencies.push(performance.now() - cellStart);
        check(outcome.text[0] === String((LOAD.calls * (LOAD.calls - 1)) / 2), `load cell: ${JSON.stringify(outcome)}`);
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
  const processes = availableParallelism();
  const subjects: BenchSubject[] = [
    inProcess,
    await overStdio('codecell stdio'),
    await overNetwork('codecell WebSocket', 1),
  ];
  if (codexBinary !== undefined) subjects.push(new CodexHost(codexBinary));
  const pipe = pipeFloor();
  const raw = await isolateFloor();
  const samples = new Samples();
  const arrivals = new Map<BenchSubject, number[]>(subjects.map((subject) => [subject, []]));
  const sessions = new Map<BenchSubject, BenchSession>();
  for (const subject of subjects) {
    const times = arrivals.get(subject) ?? [];
    sessions.set(subject, await subject.openSession((input) => (times.push(performance.now()), input)));
  }

  const rounds = quick ? 3 : 10;
  for (let r = 0; r < rounds; r++) {
    // Each round starts with a different subject, so none always runs first (or last).
    const order = subjects.map((_, i) => subjects[(i + r) % subjects.length] as BenchSubject);
    samples.add(
      'floor: bare length-prefixed pipe round trip (Node↔Node)',
      'us',
      await pipe.roundTrips(SEQUENTIAL_CALLS),
    );
    samples.add('floor: raw isolated-vm call into an isolate', 'us', await raw.intoIsolate(SEQUENTIAL_CALLS));
    samples.add('floor: raw isolated-vm async call out of an isolate', 'us', await raw.outOfIsolate(SEQUENTIAL_CALLS));
    samples.add(
      'floor: raw new isolate + context + eval + dispose',
      'ms',
      (await raw.freshIsolates(LATENCY_CELLS)).map((us) => us / 1000),
    );
    for (const subject of order) {
      const session = sessions.get(subject) as BenchSession;
      const trips = await toolRoundTrips(session, arrivals.get(subject) ?? []);
      samples.add(`tool round trip, sequential: ${subject.name}`, 'us', r === 0 ? [] : trips.sequential);
      samples.add(
        `tool round trip, batches of ${BATCH}, per call: ${subject.name}`,
        'us',
        r === 0 ? [] : trips.batched,
      );
      samples.add(
        `cell latency, text(1) execute to completed: ${subject.name}`,
        'ms',
        await cellLatencies(session, LATENCY_CELLS),
      );
    }
  }
  for (const session of sessions.values()) await session.close();
  await pipe.close();
  raw.close();

  const loadSessions = quick ? 20 : LOAD.sessions;
  const loadLabel = `${loadSessions} sessions x ${LOAD.cells} cells x ${LOAD.calls} calls`;
  // On a machine with few cores, more hosts show what the network costs, not how it scales.
  const loadSubjects = [
    ...subjects,
    await overStdio(`codecell stdio, 1 process`, { processes: 1 }),
    await overNetwork('codecell WebSocket, 2 hosts', 2),
    await overNetwork('codecell WebSocket, 4 hosts', 4),
  ];
  for (let r = 0; r < (quick ? 1 : 2); r++) {
    for (const subject of r % 2 === 0 ? loadSubjects : [...loadSubjects].reverse()) {
      const result = await load(subject, loadSessions);
      samples.add(`load throughput (${loadLabel}, ${processes} cores): ${subject.name}`, 'cells/s', [
        result.cellsPerSecond,
      ]);
      samples.add(`load cell latency (${loadLabel}): ${subject.name}`, 'ms', result.latencies);
    }
  }
  for (const subject of loadSubjects) await subject.close();

  const rows = samples.rows();
  const codexName = codexBinary === undefined ? undefined : 'Codex host';
  for (const row of rows) {
    const [figure, subject] = row.name.split(/: (?=[^:]+$)/);
    if (codexName === undefined || subject === codexName || subject === undefined) continue;
    const peer = rows.find((other) => other.name === `${figure}: ${codexName}`);
    if (peer !== undefined)
      Object.assign(row, { ratio: round(row.median / peer.median), baseline: `${codexName} ${CODEX_VERSION}` });
  }
  const floor = rows.find((row) => row.name.startsWith('floor: bare'));
  const stdioSequential = rows.find((row) => row.name === 'tool round trip, sequential: codecell stdio');
  if (floor !== undefined && stdioSequential !== undefined)
    stdioSequential.baseline = `${stdioSequential.baseline ?? 'no peer'}; ${round(stdioSequential.median / floor.median)}× the pipe floor`;
  const stdioFigures = (name: string): void => {
    const [figure] = name.split(/: (?=[^:]+$)/);
    const network = rows.find((row) => row.name === name);
    const overStdioRow = rows.find((row) => row.name === `${figure}: codecell stdio`);
    if (network !== undefined && overStdioRow !== undefined)
      network.baseline = `${network.baseline ?? 'no peer'}; ${round(network.median / overStdioRow.median)}× codecell stdio`;
  };
  stdioFigures('tool round trip, sequential: codecell WebSocket');
  stdioFigures(`tool round trip, batches of ${BATCH}, per call: codecell WebSocket`);
  stdioFigures('cell latency, text(1) execute to completed: codecell WebSocket');
  const rawOut = rows.find((row) => row.name === 'floor: raw isolated-vm async call out of an isolate');
  const localSequential = rows.find((row) => row.name === 'tool round trip, sequential: codecell in-process');
  if (rawOut !== undefined && localSequential !== undefined)
    localSequential.baseline = `${localSequential.baseline ?? 'no peer'}; ${round(localSequential.median / rawOut.median)}× the raw async call out of an isolate`;
  if (codexName === undefined)
    rows.push({
      name: `Codex host ${CODEX_VERSION}: not installed (npm run bench -- --peers)`,
      unit: 'us',
      median: Number.NaN,
      p99: Number.NaN,
      samples: 0,
    });
  return rows;
}
