// Issue 67 (SPEC §16): what a store costs. In interleaved rounds, in process and over stdio (one
// codecell-host child of a HostClient), the sequential tool round trip and cells/s of sessions
// with no store, memoryStore, sqliteStore (a file in a temp folder) and postgresStore (a server
// on loopback, started from this machine's binaries — skipped, with a line, where there are
// none), and the bytes each writes to its store per tool call.
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostClient } from '../host/index.js';
import {
  memoryStore,
  postgresStore,
  SessionRuntime,
  sqliteStore,
  type CodeCellSession,
  type CodeCellStore,
  type SessionRuntimeDelegate,
} from '../src/index.js';
import { startPostgres } from '../test/postgres-server.js';
import { storeBounds } from './store-bounds.js';
import { storeFleet } from './store-fleet.js';
import {
  check,
  percentile,
  quietLogger,
  round,
  Samples,
  sequentialCalls,
  withRatio,
  type ResultRow,
} from './common.js';

const FIVE_CALLS = 'let n = 0; for (let i = 0; i < 5; i++) n += (await tools.echo({ i })).i; text(String(n))';
const delegate: SessionRuntimeDelegate = { invokeTool: async (call) => call.input ?? null, notify: async () => {} };
const tools = [{ name: 'echo' }];

/** `store`, counting the bytes of the records appended to it. */
function counting(store: CodeCellStore, bytes: { total: number }): CodeCellStore {
  return Object.assign(Object.create(null) as CodeCellStore, {
    name: store.name,
    create: store.create.bind(store),
    adopt: store.adopt.bind(store),
    renew: store.renew.bind(store),
    append: (...args: Parameters<CodeCellStore['append']>) => {
      for (const record of args[2]) bytes.total += Buffer.byteLength(record);
      return store.append(...args);
    },
    rewrite: store.rewrite.bind(store),
    records: store.records.bind(store),
    sessions: store.sessions.bind(store),
    remove: store.remove.bind(store),
    close: store.close.bind(store),
  });
}

interface Mode {
  label: string;
  store: (() => CodeCellStore) | undefined;
}

/** One round of one mode: the sequential round trip, then cells/s with 4 sessions at once. */
async function measure(
  samples: Samples,
  where: 'in-process' | 'stdio',
  mode: Mode,
  calls: number,
  cells: number,
  bytes: { total: number; calls: number },
): Promise<{ roundTrip: number; cellsPerSecond: number }> {
  const store = mode.store === undefined ? undefined : counting(mode.store(), bytes);
  const client = where === 'stdio' ? await HostClient.spawn({ processes: 1, store, logger: quietLogger }) : undefined;
  const open = async (): Promise<CodeCellSession> =>
    client === undefined
      ? new SessionRuntime(delegate, { tools, logger: quietLogger, ...(store === undefined ? {} : { store }) })
      : client.createSession(delegate, { tools });
  try {
    const sequential = await open();
    const cell = sequentialCalls(calls);
    const start = performance.now();
    const event = await (await sequential.execute({ source: cell.source })).initialEvent;
    const elapsed = performance.now() - start;
    check(event.kind === 'completed', `${mode.label}: ${JSON.stringify(event)}`);
    await sequential.shutdown();
    bytes.calls += calls;
    const roundTrip = (elapsed * 1_000) / calls;
    samples.add(`stores: sequential tool round trip, ${where}, ${mode.label}`, 'us', [roundTrip]);
    const sessions = await Promise.all(Array.from({ length: 4 }, open));
    const cellsPerSecond = (4 * cells) / (await runCells(sessions, cells, mode.label));
    samples.add(`stores: cells/s (4 sessions, 5 calls each), ${where}, ${mode.label}`, 'cells/s', [cellsPerSecond]);
    bytes.calls += 4 * cells * 5;
    await Promise.all(sessions.map((each) => each.shutdown()));
    return { roundTrip, cellsPerSecond };
  } finally {
    await client?.close();
    await store?.close();
  }
}

/** Runs `cells` cells of five calls in each session, the sessions at once: how long it took (s). */
async function runCells(sessions: readonly CodeCellSession[], cells: number, label: string): Promise<number> {
  const began = performance.now();
  await Promise.all(
    sessions.map(async (each) => {
      for (let i = 0; i < cells; i++) {
        const done = await (await each.execute({ source: FIVE_CALLS })).initialEvent;
        check(done.kind === 'completed', `${label}: ${JSON.stringify(done)}`);
      }
    }),
  );
  return (performance.now() - began) / 1_000;
}

/**
 * Many sessions at once, in process: calls/s of 32 sessions each running `cells` cells of 5 calls
 * (a store that commits concurrent appends together — postgresStore's group commit — gains here).
 */
async function measureMany(samples: Samples, mode: Mode, cells: number): Promise<void> {
  const store = mode.store?.();
  const sessions = Array.from(
    { length: 32 },
    () => new SessionRuntime(delegate, { tools, logger: quietLogger, ...(store === undefined ? {} : { store }) }),
  );
  try {
    const seconds = await runCells(sessions, cells, mode.label);
    samples.add(`stores: calls/s (32 sessions at once), in-process, ${mode.label}`, 'calls/s', [
      (32 * cells * 5) / seconds,
    ]);
  } finally {
    await Promise.all(sessions.map((each) => each.shutdown()));
    await store?.close();
  }
}

export async function stores(quick: boolean): Promise<ResultRow[]> {
  const folder = mkdtempSync(join(tmpdir(), 'codecell-bench-stores-'));
  const server = await startPostgres();
  let databases = 0;
  const modes: Mode[] = [
    { label: 'no store', store: undefined },
    { label: 'memoryStore', store: () => memoryStore() },
    { label: 'sqliteStore', store: () => sqliteStore({ path: join(folder, `s${databases++}.db`) }) },
  ];
  if ('skip' in server) console.log(`stores: postgresStore left out: ${server.skip}`);
  else
    modes.push({
      label: 'postgresStore',
      store: () => postgresStore({ connectionString: server.createDatabase(`b${databases++}`) }),
    });
  const samples = new Samples();
  const written = new Map(modes.map((mode) => [mode.label, { total: 0, calls: 0 }]));
  const calls = quick ? 100 : 1_000;
  const cells = quick ? 3 : 20;
  // Over stdio, each turn's figures by mode: the budget's ratios are taken within a turn.
  const turns = new Map(modes.map((mode) => [mode.label, [] as { roundTrip: number; cellsPerSecond: number }[]]));
  try {
    for (const where of ['in-process', 'stdio'] as const) {
      await measure(new Samples(), where, modes[0] as Mode, calls, cells, { total: 0, calls: 0 }); // warm-up
      for (let turn = 0; turn < (quick ? 1 : 5); turn++) {
        const order = turn % 2 === 0 ? modes : [...modes].reverse();
        for (const mode of order) {
          const figures = await measure(
            samples,
            where,
            mode,
            calls,
            cells,
            written.get(mode.label) as { total: number; calls: number },
          );
          if (where === 'stdio') turns.get(mode.label)?.push(figures);
        }
      }
    }
    for (let turn = 0; turn < (quick ? 1 : 3); turn++)
      for (const mode of turn % 2 === 0 ? modes : [...modes].reverse())
        await measureMany(samples, mode, quick ? 2 : 10);
  } finally {
    if ('stop' in server) server.stop();
    rmSync(folder, { recursive: true, force: true });
  }
  const rows = samples.rows();
  // memoryStore against no store; the others against memoryStore (issue 67's budget: sqliteStore ≤ 1.25×, ≥ 0.85×).
  for (const where of ['in-process', 'stdio'])
    for (const mode of modes.slice(1))
      for (const figure of [
        'sequential tool round trip',
        'cells/s (4 sessions, 5 calls each)',
        ...(where === 'in-process' ? ['calls/s (32 sessions at once)'] : []),
      ])
        withRatio(
          rows,
          `stores: ${figure}, ${where}, ${mode.label}`,
          `stores: ${figure}, ${where}, ${mode.label === 'memoryStore' ? 'no store' : 'memoryStore'}`,
        );
  // Issue 67's budget, pair by pair within each turn (less moved by the machine's drift than a
  // ratio of medians): sqliteStore ÷ memoryStore over stdio, round trip ≤ 1.25×, cells/s ≥ 0.85×.
  const memory = turns.get('memoryStore') ?? [];
  for (const mode of modes.slice(2))
    for (const figure of ['roundTrip', 'cellsPerSecond'] as const) {
      const ratios = (turns.get(mode.label) ?? []).map((turn, i) => turn[figure] / (memory[i]?.[figure] ?? NaN));
      const median = round(percentile(ratios, 0.5));
      rows.push({
        name: `stores: ${figure === 'roundTrip' ? 'round trip' : 'cells/s'}, stdio, ${mode.label} ÷ memoryStore, per turn`,
        unit: 'ratio',
        median,
        p99: round(percentile(ratios, 0.99)),
        samples: ratios.length,
      });
    }
  for (const mode of modes.slice(1)) {
    const { total, calls: made } = written.get(mode.label) as { total: number; calls: number };
    const perCall = round(total / Math.max(1, made));
    rows.push({
      name: `stores: bytes written per tool call, ${mode.label}`,
      unit: 'bytes',
      median: perCall,
      p99: perCall,
      samples: made,
    });
  }
  return rows;
}

// `npm run bench:stores [-- --quick]`: this benchmark alone, one open cell's bounds (store-bounds.ts;
// `-- --bounds` alone) and an agent holding many sessions (store-fleet.ts; `-- --fleet` alone),
// their rows printed, not written.
const only = process.argv.find((arg) => arg === '--bounds' || arg === '--fleet');
const quickly = process.argv.includes('--quick');
if (process.argv[1] === fileURLToPath(import.meta.url))
  for (const row of [
    ...(only === undefined ? await stores(quickly) : []),
    ...(only === undefined || only === '--bounds' ? await storeBounds(quickly) : []),
    ...(only === undefined || only === '--fleet' ? await storeFleet(quickly) : []),
  ])
    console.log(
      `${row.name}: median ${row.median} ${row.unit}${row.ratio === undefined ? '' : `  ratio ${row.ratio}`}`,
    );
