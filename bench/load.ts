// Issue 6 load test: 50 concurrent sessions × 20 cells, each cell making tool calls and sequenced
// notifications. Checks nothing is lost or duplicated, then reports throughput and cell latency.
import { SessionRuntime, type CellNotification } from '../src/index.js';
import { check, percentile, quietLogger, type ResultRow } from './common.js';

const SESSIONS = 50;
const CELLS_PER_SESSION = 20;
const STEPS = 5;

/** What the sessions of a load run record: each cell's notifications in arrival order, latencies, calls. */
interface LoadRecord {
  notifications: Map<string, number[]>;
  latencies: number[];
  toolCalls: number;
}

/** One session of the load: its cells one after another, each checked to complete. */
async function runSession(session: number, record: LoadRecord): Promise<void> {
  const runtime = new SessionRuntime(
    {
      invokeTool: async (call) => {
        record.toolCalls++;
        await new Promise((resolve) => setImmediate(resolve));
        return { step: (call.input as { i: number }).i };
      },
      notify: async (notification: CellNotification) => {
        const { cell, seq } = JSON.parse(notification.text) as { cell: string; seq: number };
        const seen = record.notifications.get(cell) ?? [];
        seen.push(seq);
        record.notifications.set(cell, seen);
      },
    },
    { tools: [{ name: 'work' }], logger: quietLogger },
  );
  for (let cell = 0; cell < CELLS_PER_SESSION; cell++) {
    const key = `${session}/${cell}`;
    const start = performance.now();
    const { initialEvent } = await runtime.execute({
      source:
        `for (let i = 0; i < ${STEPS}; i++) { const r = await tools.work({ i }); ` +
        `notify(JSON.stringify({ cell: ${JSON.stringify(key)}, seq: r.step })) } text("done")`,
    });
    const event = await initialEvent;
    record.latencies.push(performance.now() - start);
    check(
      event.kind === 'completed' && event.error === undefined && event.items.length === 1,
      `cell ${key} did not complete: ${JSON.stringify(event)}`,
    );
  }
  await runtime.shutdown();
}

export async function load(quick: boolean): Promise<ResultRow[]> {
  const sessions = quick ? 10 : SESSIONS;
  const record: LoadRecord = { notifications: new Map(), latencies: [], toolCalls: 0 };
  const { notifications, latencies } = record;
  const start = performance.now();
  await Promise.all(Array.from({ length: sessions }, (_, session) => runSession(session, record)));
  const elapsed = performance.now() - start;

  const cells = sessions * CELLS_PER_SESSION;
  check(notifications.size === cells, `${notifications.size} of ${cells} cells notified`);
  for (const [cell, seqs] of notifications) {
    check(
      seqs.join() === Array.from({ length: STEPS }, (_, i) => i).join(),
      `cell ${cell} notifications ${seqs.join()} (lost, duplicated or reordered)`,
    );
  }
  check(record.toolCalls === cells * STEPS, `${record.toolCalls} tool calls, expected ${cells * STEPS}`);
  latencies.sort((a, b) => a - b);
  const label = `${sessions} sessions x ${CELLS_PER_SESSION} cells, ${STEPS} tool calls + ${STEPS} notifications each`;
  console.log(
    `\nload: ${label}: ${cells} cells in ${(elapsed / 1000).toFixed(2)} s, 0 lost or duplicated notifications`,
  );
  return [
    {
      name: `load: cell latency (${label})`,
      unit: 'ms',
      median: Math.round(percentile(latencies, 0.5) * 1000) / 1000,
      p99: Math.round(percentile(latencies, 0.99) * 1000) / 1000,
      samples: cells,
    },
    {
      name: `load: throughput (${label})`,
      unit: 'cells/s',
      median: Math.round((cells / elapsed) * 1000 * 10) / 10,
      p99: Math.round((cells / elapsed) * 1000 * 10) / 10,
      samples: 1,
    },
  ];
}
