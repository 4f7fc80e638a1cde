// SPEC §10.1: time from terminate()/shutdown() to resolution with K in-flight callbacks, cooperative
// and non-cooperative, against a "serial windows" reference policy measured in the same run.
import { Bench } from 'tinybench';
import { CallbackSet, type CallbackKind } from '../src/cell/callbacks.js';
import { Deadline } from '../src/cell/deadline.js';
import { CodeCellError } from '../src/errors.js';
import { loadIsolatedVm } from '../src/isolate/load.js';
import { SessionRuntime, DEFAULT_CALLBACK_ABORT_DEADLINE_MS } from '../src/index.js';
import { check, delegateOf, never, quietLogger, rejectOnAbort, rowsOf, withRatio, type ResultRow } from './common.js';

const DEADLINE = DEFAULT_CALLBACK_ABORT_DEADLINE_MS;

interface Scenario {
  readonly label: string;
  readonly cells: number;
  readonly tools: number;
  readonly notifications: number;
  readonly cooperative: boolean;
  readonly via: 'terminate' | 'shutdown';
}

interface Loaded {
  runtime: SessionRuntime;
  cellIds: string[];
  aborted(): number;
  calls(): number;
}

async function load(scenario: Scenario, callbackAbortDeadlineMs = DEADLINE): Promise<Loaded> {
  const { cells, tools, notifications, cooperative } = scenario;
  const delegate = cooperative
    ? delegateOf((_call, signal) => rejectOnAbort(signal), rejectOnAbort)
    : delegateOf(never, never);
  const runtime = new SessionRuntime(delegate, {
    tools: [{ name: 'work' }],
    limits: { maxConcurrentToolCalls: Math.max(tools, 1), maxCellsPerSession: cells },
    callbackAbortDeadlineMs,
    logger: quietLogger,
  });
  const source =
    `for (let i = 0; i < ${notifications}; i++) notify("n" + i);\n` +
    `await Promise.all(Array.from({ length: ${tools} }, (_, i) => tools.work({ i })));`;
  const started = await Promise.all(
    Array.from({ length: cells }, () => runtime.execute({ source }, { kind: 'pendingFrontier' })),
  );
  await Promise.all(started.map((cell) => cell.initialEvent));
  // Every tool call and the first notification of each cell are now inside the delegate.
  const expected = cells * (tools + (notifications > 0 ? 1 : 0));
  check(
    delegate.calls() === expected,
    `${scenario.label}: ${delegate.calls()} delegate calls in flight, expected ${expected}`,
  );
  return { runtime, cellIds: started.map((cell) => cell.cellId), aborted: delegate.aborted, calls: delegate.calls };
}

async function cancel(scenario: Scenario, loaded: Loaded): Promise<number> {
  const start = performance.now();
  if (scenario.via === 'shutdown') {
    await loaded.runtime.shutdown();
  } else {
    await Promise.all(loaded.cellIds.map((id) => loaded.runtime.terminate(id)));
  }
  const elapsed = performance.now() - start;
  await loaded.runtime.shutdown();
  return elapsed;
}

/** Non-cooperative runs must wait the whole deadline; cooperative ones must not need it at all. */
async function selfCheck(scenario: Scenario): Promise<void> {
  const longDeadline = 10_000;
  const loaded = await load(scenario, scenario.cooperative ? longDeadline : DEADLINE);
  const elapsed = await cancel(scenario, loaded);
  check(
    loaded.aborted() === loaded.calls(),
    `${scenario.label}: ${loaded.aborted()} of ${loaded.calls()} signals aborted`,
  );
  if (scenario.cooperative)
    check(elapsed < longDeadline / 2, `${scenario.label}: cooperative callbacks took ${elapsed} ms`);
  else check(elapsed >= DEADLINE - 1, `${scenario.label}: returned after ${elapsed} ms, before the deadline`);
}

/** The same callbacks held directly in CallbackSets, for the policy comparison. */
function loadSets(sets: number, perKind: number): CallbackSet[] {
  return Array.from({ length: sets }, () => {
    const set = new CallbackSet({ maxConcurrentToolCalls: perKind });
    for (let i = 0; i < perKind; i++) {
      set.runTool(never).catch(() => {});
      set.notify(never).catch(() => {});
    }
    return set;
  });
}

async function cancelSets(sets: CallbackSet[], windows: readonly (readonly CallbackKind[])[]): Promise<number> {
  const start = performance.now();
  const reason = new CodeCellError('ERR_CANCELLED', 'benchmark');
  for (const set of sets) set.abort(reason);
  for (const kinds of windows) {
    const deadline = new Deadline(DEADLINE);
    await Promise.all(sets.map((set) => set.settle(deadline, kinds)));
    deadline.clear();
  }
  return performance.now() - start;
}

/** Creates `count` isolates with a context each, then times disposing them all (ms). */
async function disposeIsolates(count: number): Promise<number> {
  const ivm = loadIsolatedVm();
  const isolates = await Promise.all(
    Array.from({ length: count }, async () => {
      const isolate = new ivm.Isolate({ memoryLimit: 128 });
      const context = await isolate.createContext();
      await context.eval('globalThis.data = Array.from({ length: 100 }, (_, i) => ({ i }))');
      return { isolate, context };
    }),
  );
  const start = performance.now();
  for (const { isolate, context } of isolates) {
    context.release();
    isolate.dispose();
  }
  return performance.now() - start;
}

const SHARED: readonly (readonly CallbackKind[])[] = [['tool', 'notification']];
const SERIAL: readonly (readonly CallbackKind[])[] = [['notification'], ['tool']];

export async function shutdownLatency(quick: boolean): Promise<ResultRow[]> {
  const scenarios: Scenario[] = [];
  for (const cooperative of [false, true]) {
    const kind = cooperative ? 'cooperative' : 'non-cooperative';
    scenarios.push(
      { label: `terminate K=1 ${kind}`, cells: 1, tools: 1, notifications: 0, cooperative, via: 'terminate' },
      { label: `terminate K=100 ${kind}`, cells: 1, tools: 50, notifications: 50, cooperative, via: 'terminate' },
      {
        label: `shutdown K=10000 (100 cells) ${kind}`,
        cells: 100,
        tools: 50,
        notifications: 50,
        cooperative,
        via: 'shutdown',
      },
    );
  }
  for (const scenario of scenarios) await selfCheck(scenario);
  const serialCheck = await cancelSets(loadSets(100, 50), SERIAL);
  check(serialCheck >= 2 * DEADLINE - 1, `serial windows took ${serialCheck} ms, less than two windows`);

  const bench = new Bench({ name: 'callback shutdown latency', iterations: quick ? 5 : 30, time: 0, warmup: false });
  for (const scenario of scenarios) {
    bench.add(scenario.label, async () => ({ overriddenDuration: await cancel(scenario, await load(scenario)) }));
  }
  // The floor of a shutdown of 100 cells: disposing their 100 idle isolates, nothing else.
  bench.add('floor: dispose 100 idle isolates (raw isolated-vm)', async () => ({
    overriddenDuration: await disposeIsolates(100),
  }));
  bench.add('policy shared deadline, 10000 hanging in 100 sets', async () => ({
    overriddenDuration: await cancelSets(loadSets(100, 50), SHARED),
  }));
  bench.add('policy serial windows (reference), 10000 hanging in 100 sets', async () => ({
    overriddenDuration: await cancelSets(loadSets(100, 50), SERIAL),
  }));
  await bench.run();
  console.log(`\n${bench.name} (deadline ${DEADLINE} ms)`);
  console.table(bench.table());
  const rows = rowsOf(bench);
  const reference = `${bench.name}: policy serial windows (reference), 10000 hanging in 100 sets`;
  withRatio(rows, `${bench.name}: policy shared deadline, 10000 hanging in 100 sets`, reference);
  withRatio(rows, `${bench.name}: shutdown K=10000 (100 cells) non-cooperative`, reference);
  return rows;
}
