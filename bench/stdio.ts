// Issue 16, item 4: the shared deadline over the wire. Shutting down 100 cells × 100 tool calls
// through a real codecell-host child, interleaved with the same load in-process; and the heap
// growth of the host side over 300 terminated cells whose client tools hang.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Bench } from 'tinybench';
import { HostClient } from '../host/index.js';
import { connectInProcess } from '../host/in-process.js';
import { SessionRuntime, DEFAULT_CALLBACK_ABORT_DEADLINE_MS, type CodeCellSession } from '../src/index.js';
import { check, delegateOf, never, quietLogger, rejectOnAbort, rowsOf, withRatio, type ResultRow } from './common.js';

const CELLS = 100;
const CALLS = 100;
const MiB = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

type Open = (delegate: ReturnType<typeof delegateOf>, limits: object) => Promise<CodeCellSession>;

/** Loads 100 cells × 100 waiting tool calls, then times shutdown(). */
async function shutdownOnce(open: Open, cooperative: boolean): Promise<number> {
  const delegate = cooperative
    ? delegateOf((_call, signal) => rejectOnAbort(signal), rejectOnAbort)
    : delegateOf(never, never);
  const session = await open(delegate, { maxConcurrentToolCalls: CALLS, maxCellsPerSession: CELLS });
  const source = `await Promise.all(Array.from({ length: ${CALLS} }, (_, i) => tools.work({ i })));`;
  const started = await Promise.all(
    Array.from({ length: CELLS }, () => session.execute({ source }, { kind: 'pendingFrontier' })),
  );
  await Promise.all(started.map((cell) => cell.initialEvent));
  check(delegate.calls() === CELLS * CALLS, `${delegate.calls()} calls in flight, expected ${CELLS * CALLS}`);
  const start = performance.now();
  await session.shutdown();
  const elapsed = performance.now() - start;
  // The client saw every delegate signal aborted (one cell/cancel per cell over the wire).
  const until = performance.now() + 5_000;
  while (delegate.aborted() < delegate.calls() && performance.now() < until)
    await new Promise((resolve) => setTimeout(resolve, 5));
  check(delegate.aborted() === delegate.calls(), `${delegate.aborted()} of ${delegate.calls()} signals aborted`);
  return elapsed;
}

async function hostHeapGrowth(cells: number): Promise<{ start: number; end: number }> {
  const linked = await connectInProcess({ logger: quietLogger });
  const session = await linked.client.createSession(delegateOf(never, never), { tools: [{ name: 'work' }] });
  const run = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const { cellId, initialEvent } = await session.execute(
        { source: 'await tools.work({})' },
        { kind: 'pendingFrontier' },
      );
      await initialEvent;
      await session.terminate(cellId);
    }
  };
  const settle = async (): Promise<number> => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return process.memoryUsage().heapUsed;
  };
  await run(30);
  const start = await settle();
  await run(cells);
  const end = await settle();
  await session.shutdown();
  await linked.close();
  return { start, end };
}

export async function stdio(quick: boolean): Promise<ResultRow[]> {
  const client = await HostClient.spawn({ logger: quietLogger });
  const remote: Open = (delegate, limits) => client.createSession(delegate, { tools: [{ name: 'work' }], limits });
  const local: Open = async (delegate, limits) =>
    new SessionRuntime(delegate, { tools: [{ name: 'work' }], limits, logger: quietLogger });
  const bench = new Bench({
    name: 'shutdown 100 cells x 100 calls',
    iterations: quick ? 3 : 10,
    time: 0,
    warmup: false,
  });
  // Interleaved: tinybench runs the tasks one after another, iteration by iteration of each.
  for (const cooperative of [false, true]) {
    const kind = cooperative ? 'cooperative' : 'non-cooperative';
    bench.add(`in-process ${kind}`, async () => ({ overriddenDuration: await shutdownOnce(local, cooperative) }));
    bench.add(`codecell-host over stdio ${kind}`, async () => ({
      overriddenDuration: await shutdownOnce(remote, cooperative),
    }));
  }
  await bench.run();
  await client.close();
  console.log(`\n${bench.name} (deadline ${DEFAULT_CALLBACK_ABORT_DEADLINE_MS} ms)`);
  console.table(bench.table());
  const rows = rowsOf(bench);
  for (const kind of ['non-cooperative', 'cooperative']) {
    withRatio(rows, `${bench.name}: codecell-host over stdio ${kind}`, `${bench.name}: in-process ${kind}`);
  }
  const cells = quick ? 100 : 300;
  const heap = await hostHeapGrowth(cells);
  const growth = (heap.end - heap.start) / MiB;
  console.log(
    `\nhost + client heap over ${cells} terminated cells with hanging client tools: ` +
      `${(heap.start / MiB).toFixed(1)} -> ${(heap.end / MiB).toFixed(1)} MiB`,
  );
  rows.push({
    name: `wire: heap growth over ${cells} terminated cells, hanging client tools (MiB)`,
    unit: 'MiB',
    median: Math.round(growth * 1000) / 1000,
    p99: Math.round(growth * 1000) / 1000,
    samples: cells,
    baseline: `heap ${(heap.start / MiB).toFixed(1)} -> ${(heap.end / MiB).toFixed(1)} MiB`,
  });
  return rows;
}
