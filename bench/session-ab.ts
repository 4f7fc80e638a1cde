// What the A/B benchmarks of one feature (tracing.ts, journal.ts) measure in each round: an
// in-process session's sequential tool round trip (one cell of `calls` calls), and cells/s under
// load (`concurrency` sessions at once, each running `cells` cells of five tool calls).
import { SessionRuntime, type SessionRuntimeOptions } from '../src/index.js';
import { check, quietLogger, Samples, sequentialCalls, withRatio, type ResultRow } from './common.js';

export interface SessionRound {
  calls: number;
  cells: number;
  /** Sessions running cells at once for the cells/s figure. Default 4. */
  concurrency?: number;
  options?: SessionRuntimeOptions;
}

const FIVE_CALLS = 'let n = 0; for (let i = 0; i < 5; i++) n += (await tools.echo({ i })).i; text(String(n))';

function session(options: SessionRuntimeOptions | undefined): SessionRuntime {
  return new SessionRuntime(
    { invokeTool: async (call) => call.input ?? null, notify: async () => {} },
    { tools: [{ name: 'echo' }], logger: quietLogger, ...options },
  );
}

/** One round: adds `<bench>: sequential tool round trip, <mode>` (µs) and `<bench>: cells/s …` rows. */
export async function measureSessions(
  bench: string,
  mode: string,
  samples: Samples,
  round: SessionRound,
): Promise<void> {
  const { calls, cells, concurrency = 4, options } = round;
  const sequential = session(options);
  try {
    const cell = sequentialCalls(calls);
    const start = performance.now();
    const event = await (await sequential.execute({ source: cell.source })).initialEvent;
    const elapsed = performance.now() - start;
    check(event.kind === 'completed' && event.items[0]?.type === 'text', `${mode}: ${JSON.stringify(event)}`);
    samples.add(`${bench}: sequential tool round trip, ${mode}`, 'us', [(elapsed * 1_000) / calls]);
  } finally {
    await sequential.shutdown();
  }
  const sessions = Array.from({ length: concurrency }, () => session(options));
  try {
    const start = performance.now();
    await Promise.all(
      sessions.map(async (each) => {
        for (let i = 0; i < cells; i++) {
          const event = await (await each.execute({ source: FIVE_CALLS })).initialEvent;
          check(event.kind === 'completed', `${mode}: ${JSON.stringify(event)}`);
        }
      }),
    );
    const cellsPerSecond = (concurrency * cells) / ((performance.now() - start) / 1_000);
    samples.add(`${bench}: cells/s (${concurrency} sessions at once, 5 calls each), ${mode}`, 'cells/s', [
      cellsPerSecond,
    ]);
  } finally {
    await Promise.all(sessions.map((each) => each.shutdown()));
  }
}

/**
 * Interleaved rounds of `off` and `on` (each round's order alternating, so a noisy machine's
 * drift falls on both) after one warm-up round; `switchOn` turns the feature on for a round and
 * returns what turns it off. Rows with the ratios on/off.
 */
export async function interleaved(
  bench: string,
  labels: { off: string; on: string },
  quick: boolean,
  roundOf: (on: boolean) => SessionRound,
  switchOn: () => () => Promise<void> = () => () => Promise.resolve(),
): Promise<ResultRow[]> {
  const samples = new Samples();
  await measureSessions(bench, labels.off, new Samples(), roundOf(false)); // warm-up, not kept
  for (let round = 0; round < (quick ? 2 : 7); round++) {
    for (const on of round % 2 === 0 ? [false, true] : [true, false]) {
      const off = on ? switchOn() : undefined;
      try {
        await measureSessions(bench, on ? labels.on : labels.off, samples, roundOf(on));
      } finally {
        await off?.();
      }
    }
  }
  const rows = samples.rows();
  for (const figure of ['sequential tool round trip', `cells/s (4 sessions at once, 5 calls each)`])
    withRatio(rows, `${bench}: ${figure}, ${labels.on}`, `${bench}: ${figure}, ${labels.off}`);
  return rows;
}
