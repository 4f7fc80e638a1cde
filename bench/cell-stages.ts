// Where a cell's time goes in the host, stage by stage (issue 32): back-to-back cells in-process,
// timed by the runtime itself on the `codecell:cell-stage` diagnostics channel (src/isolate/
// stages.ts), beside each cell's whole time from execute to its completed event. The isolate,
// context and prelude stages run for every isolate made (a cell takes one from the pool, which
// refills behind it), so each row's share per cell is its total over the cells.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { SessionRuntime, type JsonValue } from '../src/index.js';
import { CELL_STAGE_CHANNEL, type CellStage, type CellStageMessage } from '../src/isolate/stages.js';
import { check, quietLogger, round, Samples, sequentialCalls, type ResultRow } from './common.js';

const CELLS = 400;
const WARM_UP = 40;

const SHAPES = {
  'text(1)': 'text(1)',
  '5 tool calls': sequentialCalls(5).source,
};

/** Runs `cells` cells of `source` one after another; each one's time from execute to its event (ms). */
async function backToBack(runtime: SessionRuntime, source: string, cells: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < cells; i++) {
    const start = performance.now();
    const event = await (await runtime.execute({ source })).initialEvent;
    times.push(performance.now() - start);
    check(event.kind === 'completed' && event.error === undefined, `stage cell: ${JSON.stringify(event)}`);
  }
  return times;
}

export async function cellStages(quick: boolean): Promise<ResultRow[]> {
  const cells = quick ? 40 : CELLS;
  const samples = new Samples();
  const perCell = new Map<string, number>();
  const runtime = new SessionRuntime(
    { invokeTool: async (call) => call.input as JsonValue, notify: async () => {} },
    { tools: [{ name: 'echo' }], logger: quietLogger },
  );
  let stages = new Map<CellStage, number[]>();
  const listener = (message: unknown): void => {
    const { stage, ms } = message as CellStageMessage;
    const times = stages.get(stage) ?? [];
    times.push(ms);
    stages.set(stage, times);
  };
  subscribe(CELL_STAGE_CHANNEL, listener);
  try {
    for (const [shape, source] of Object.entries(SHAPES)) {
      await backToBack(runtime, source, WARM_UP);
      stages = new Map();
      const totals = await backToBack(runtime, source, cells);
      // The last cell's disposal waits a turn of the event loop.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const label = `cell stage (${cells} back-to-back ${shape} cells, in-process)`;
      samples.add(
        `${label}: execute to completed`,
        'us',
        totals.map((ms) => ms * 1000),
      );
      for (const [stage, times] of stages) {
        check(times.length >= cells, `${shape}: stage ${stage} timed ${times.length} times for ${cells} cells`);
        samples.add(
          `${label}: ${stage}`,
          'us',
          times.map((ms) => ms * 1000),
        );
        perCell.set(`${label}: ${stage}`, (times.reduce((sum, ms) => sum + ms, 0) * 1000) / cells);
      }
    }
  } finally {
    unsubscribe(CELL_STAGE_CHANNEL, listener);
    await runtime.shutdown();
  }
  const rows = samples.rows();
  for (const row of rows) {
    const share = perCell.get(row.name);
    if (share !== undefined) row.baseline = `${round(share)} us per cell (its total over the ${cells} cells)`;
  }
  return rows;
}
