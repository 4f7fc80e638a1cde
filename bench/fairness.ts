// Fair sharing (issue 33): session B's small CPU-bound cell alone, and beside 64 spinning cells of
// session A on the same host, in-process and through one codecell-host process. Target: within
// 3x its latency alone (median of 5 each, measured in the same run).
import { HostClient } from '../host/index.js';
import { SessionRuntime, type CodeCellSession } from '../src/index.js';
import { check, quietLogger, round, type ResultRow } from './common.js';

const SMALL = 'let s = 0; for (let i = 0; i < 1e6; i++) s += i; text(String(s))';
const SPINNING = 64;
const RUNS = 5;
const delegate = { invokeTool: async () => null, notify: async () => {} };
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] as number;

async function smallCells(session: CodeCellSession): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    const event = await (await session.execute({ source: SMALL })).initialEvent;
    times.push(performance.now() - start);
    check(event.kind === 'completed' && event.error === undefined, `the small cell: ${JSON.stringify(event)}`);
  }
  return times;
}

async function measure(name: string, open: () => Promise<CodeCellSession>): Promise<ResultRow[]> {
  const [a, b] = [await open(), await open()];
  await smallCells(b); // warm
  const alone = await smallCells(b);
  for (let i = 0; i < SPINNING; i++) await a.execute({ source: 'while (true) {}' }, { kind: 'yieldAfter', ms: 0 });
  const shared = await smallCells(b);
  await a.shutdown();
  await b.shutdown();
  console.log(
    `\nfairness (${name}): small cell alone ${median(alone).toFixed(1)} ms, beside ${SPINNING} ` +
      `spinning cells of another session ${median(shared).toFixed(1)} ms`,
  );
  return [
    {
      name: `fairness: small cell alone (${name})`,
      unit: 'ms',
      median: round(median(alone)),
      p99: round(Math.max(...alone)),
      samples: RUNS,
    },
    {
      name: `fairness: small cell beside ${SPINNING} spinning cells of another session (${name})`,
      unit: 'ms',
      median: round(median(shared)),
      p99: round(Math.max(...shared)),
      samples: RUNS,
      ratio: round(median(shared) / median(alone)),
      baseline: 'the same cell alone (target <= 3x)',
    },
  ];
}

export async function fairness(): Promise<ResultRow[]> {
  const rows = await measure('in-process', async () => new SessionRuntime(delegate, { logger: quietLogger }));
  const client = await HostClient.spawn({ processes: 1, logger: quietLogger, stderr: 'ignore' });
  rows.push(...(await measure('one codecell-host', () => client.createSession(delegate))));
  await client.close();
  return rows;
}
