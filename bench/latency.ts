// SPEC §10.2–10.4: nested tool-call round trip and cell latency, in-process and through the
// codecell-host bin over real stdio, each beside its raw baseline measured in the same run.
import { loadIsolatedVm } from '../src/isolate/load.js';
import { Bench } from 'tinybench';
import { HostClient } from '../host/index.js';
import { SessionRuntime, type CodeCellSession, type SessionRuntimeDelegate } from '../src/index.js';
import { check, quietLogger, rowsOf, withRatio, type ResultRow } from './common.js';

const CALLS_PER_CELL = 200;

/** A delegate whose tool answers at once and records when each call arrived. */
function echoDelegate(): SessionRuntimeDelegate & { arrivals: number[] } {
  const arrivals: number[] = [];
  return {
    arrivals,
    invokeTool: async (call) => {
      arrivals.push(performance.now());
      return call.input ?? null;
    },
    notify: async () => {},
  };
}

/** Median time between consecutive tool calls of one cell: one full round trip each. */
async function toolRoundTrip(session: CodeCellSession, delegate: { arrivals: number[] }): Promise<number> {
  delegate.arrivals.length = 0;
  const { initialEvent } = await session.execute({
    source: `let n = 0; for (let i = 0; i < ${CALLS_PER_CELL}; i++) n += (await tools.echo({ i })).i; text(n)`,
  });
  const event = await initialEvent;
  check(event.kind === 'completed' && event.items[0]?.type === 'text' && event.items[0].text === String((CALLS_PER_CELL * (CALLS_PER_CELL - 1)) / 2), 'tool round trip cell gave the wrong sum');
  const gaps = delegate.arrivals.slice(1).map((time, i) => time - (delegate.arrivals[i] ?? time)).sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)] ?? Number.NaN;
}

async function cellLatency(session: CodeCellSession): Promise<void> {
  const { initialEvent } = await session.execute({ source: 'text(1)' });
  const event = await initialEvent;
  check(event.kind === 'completed' && event.items.length === 1, 'text(1) did not complete with one item');
}

export async function latency(quick: boolean): Promise<ResultRow[]> {
  const tools = [{ name: 'echo' }];
  const local = echoDelegate();
  const runtime = new SessionRuntime(local, { tools, logger: quietLogger });
  const client = await HostClient.spawn({ logger: quietLogger, stderr: 'ignore' });
  const remoteDelegate = echoDelegate();
  const remote = await client.createSession(remoteDelegate, { tools });

  // The raw baselines: an isolated-vm Reference round trip, and a bare isolate's life.
  const ivm = loadIsolatedVm();
  const isolate = new ivm.Isolate();
  const context = await isolate.createContext();
  const echo = await context.evalClosure('return (x) => x', [], { result: { reference: true } });
  check((await echo.apply(undefined, [7])) === 7, 'raw Reference round trip');

  await cellLatency(runtime);
  await cellLatency(remote);
  await toolRoundTrip(runtime, local);
  await toolRoundTrip(remote, remoteDelegate);

  // Tasks that report their own duration get a fixed number of iterations (each is a whole cell).
  const perCall = new Bench({ name: 'latency', iterations: quick ? 10 : 40, time: 0, warmup: false });
  perCall
    .add('in-process nested tool call round trip', async () => ({ overriddenDuration: await toolRoundTrip(runtime, local) }))
    .add('host nested tool call round trip (stdio)', async () => ({ overriddenDuration: await toolRoundTrip(remote, remoteDelegate) }));
  const bench = new Bench({ name: 'latency', iterations: quick ? 20 : 200, time: quick ? 500 : 3_000, warmup: true, warmupIterations: 10 });
  bench
    .add('raw isolated-vm Reference round trip', async () => {
      await echo.apply(undefined, [1]);
    })
    .add('raw new isolate + context + eval + dispose', async () => {
      const fresh = new ivm.Isolate();
      const freshContext = await fresh.createContext();
      await freshContext.eval('1');
      fresh.dispose();
    })
    .add('in-process cell latency (text(1) to completed)', () => cellLatency(runtime))
    .add('host cell latency (stdio)', () => cellLatency(remote));
  await perCall.run();
  await bench.run();
  console.log(`\n${bench.name}`);
  console.table([...perCall.table(), ...bench.table()]);

  await remote.shutdown();
  await client.close();
  await runtime.shutdown();
  isolate.dispose();

  const rows = [...rowsOf(bench, 'us'), ...rowsOf(perCall, 'us')];
  const name = (task: string): string => `${bench.name}: ${task}`;
  withRatio(rows, name('in-process nested tool call round trip'), name('raw isolated-vm Reference round trip'));
  withRatio(rows, name('in-process cell latency (text(1) to completed)'), name('raw new isolate + context + eval + dispose'));
  withRatio(rows, name('host nested tool call round trip (stdio)'), name('in-process nested tool call round trip'));
  withRatio(rows, name('host cell latency (stdio)'), name('in-process cell latency (text(1) to completed)'));
  return rows;
}
