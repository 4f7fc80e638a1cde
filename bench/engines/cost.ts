// What a cell's calls cost on an engine (`npm run bench:engines`, docs/dbos.md, docs/restate.md,
// docs/workflow.md): 200 sequential calls in one cell on DBOS and on Restate (the real engines,
// started here, the worker in this process), 20 on the Workflow DevKit's local world (each call an
// advance of the cell from its start), a tool not idempotent and one idempotent, and a Promise.all
// of 16 calls; beside them the same cell in a plain SessionRuntime, interleaved round by round.
// Medians of the rounds, and the machine's load.
//   node dist/bench/engines/cost.js [--rounds 5] [--engine dbos|restate|workflow]
import { loadavg } from 'node:os';
import { setTimeout } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { SessionRuntime, type DurableCellResult, type NestedToolCall } from '../../src/index.js';
import { freePort, startPostgres } from '../../test/postgres-server.js';
import { startRestate } from '../../test/restate-server.js';
import { buildWorkflowApp, startWorld } from '../../test/workflow-app.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, engine: { type: 'string', multiple: true } },
});
const rounds = Number(values.rounds);
let CALLS = 200;
const tools = [{ name: 'charge' }, { name: 'lookup', idempotent: true }];
const delegate = { invokeTool: async (call: NestedToolCall) => (call.input as { n: number }).n };
const sequential = (tool: string): string =>
  `let s = 0; for (let i = 0; i < ${CALLS}; i++) s += await tools.${tool}({ n: i }); text(String(s));`;
const batch = `const r = await Promise.all(Array.from({ length: 16 }, (_, i) => tools.charge({ n: i }))); text(String(r.length));`;

/** Runs a cell on an engine: resolves with how it ended. */
type Engine = (source: string) => Promise<DurableCellResult>;

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

async function plain(source: string): Promise<void> {
  const session = new SessionRuntime({ ...delegate, notify: async () => {} }, { tools });
  const { initialEvent } = await session.execute({ source }, { kind: 'yieldAfter', ms: 60_000 });
  const event = await initialEvent;
  await session.shutdown();
  if (event.kind !== 'completed' || event.error !== undefined) throw new Error(`plain: ${JSON.stringify(event)}`);
}

async function measure(name: string, engine: Engine): Promise<void> {
  const checked = async (source: string): Promise<void> => {
    const result = await engine(source);
    if (result.kind !== 'completed' || result.error !== undefined)
      throw new Error(`${name}: ${JSON.stringify(result)}`);
  };
  await checked(sequential('lookup')); // warm
  const runs: Record<string, number[]> = { charge: [], lookup: [], plain: [], batch: [] };
  for (let round = 0; round < rounds; round++) {
    runs.charge?.push(await timed(() => checked(sequential('charge'))));
    runs.lookup?.push(await timed(() => checked(sequential('lookup'))));
    runs.plain?.push(await timed(() => plain(sequential('charge'))));
    runs.batch?.push(await timed(() => checked(batch)));
  }
  const median = (list: number[] = []): number => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)] ?? NaN;
  const perCall = (key: string): string => `${(median(runs[key]) / CALLS).toFixed(2)} ms a call`;
  console.log(
    `${name}: ${perCall('charge')} (not idempotent), ${perCall('lookup')} (idempotent), plain session ` +
      `${perCall('plain')}; Promise.all of 16: ${median(runs.batch).toFixed(0)} ms ` +
      `(medians of ${rounds}, load ${loadavg()[0]?.toFixed(1)})`,
  );
}

/** The DevKit app's options module: these tools and delegate. */
const WORKFLOW_OPTIONS = `export const cellOptions = {
  tools: ${JSON.stringify(tools)},
  delegate: { invokeTool: async (call) => call.input.n },
};
`;

for (const name of values.engine ?? ['dbos', 'restate', 'workflow']) {
  if (name === 'workflow') {
    const app = await buildWorkflowApp(WORKFLOW_OPTIONS);
    if ('skip' in app) throw new Error(app.skip);
    const world = await startWorld(app.dir, `${app.dir}/data`);
    const { start } = await import('workflow/api');
    CALLS = 20; // a cell of n sequential calls takes n + 1 advances, each replaying the calls before
    await measure('workflow', async (source) => {
      const run = await start({ workflowId: app.workflowId }, [source]);
      // returnValue looks once a second: the run's status, read every 2 ms, says when it ended.
      while (['pending', 'running'].includes((await world.runs.get(run.runId)).status)) await setTimeout(2);
      return (await run.returnValue) as DurableCellResult;
    });
    await world.close?.();
    app.remove();
  } else if (name === 'dbos') {
    const server = await startPostgres();
    if ('skip' in server) throw new Error(server.skip);
    const { DBOS } = await import('@dbos-inc/dbos-sdk');
    const { registerCellWorkflow } = await import('../../adapters/dbos.js');
    DBOS.setConfig({
      name: 'codecell-engine-cost',
      systemDatabaseUrl: server.createDatabase('cost'),
      logLevel: 'error',
    });
    const runCell = registerCellWorkflow({ tools, delegate });
    await DBOS.launch();
    await measure('dbos', async (source) => (await DBOS.startWorkflow(runCell)(source)).getResult());
    await DBOS.shutdown();
    server.stop();
  } else {
    const server = await startRestate({ suspendAfter: '1m' });
    if ('skip' in server) throw new Error(server.skip);
    const restate = await import('@restatedev/restate-sdk');
    const { cellWorkflow } = await import('../../adapters/restate.js');
    const port = await freePort();
    await restate.endpoint().bind(cellWorkflow({ tools, delegate })).listen(port);
    await server.register(`http://127.0.0.1:${port}`);
    let cells = 0;
    await measure('restate', async (source) => {
      const response = await fetch(`${server.ingress}/codecell/cost-${++cells}/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(source),
      });
      return (await response.json()) as DurableCellResult;
    });
    await server.stop();
  }
}
process.exit(0); // the Restate endpoint would serve on
