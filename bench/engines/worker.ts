// One worker of the engine soak (soak.ts): runs the soak's cells on DBOS or Restate until it is
// killed. Each tool appends a line to the effects file, synchronously, before it answers (after a
// random delay of up to 150 ms): a kill -9 keeps what took effect, and the file is the soak's
// ground truth, which the engines and codecell never read.
//   node worker.js dbos <effects> <system database url> <cells> [mutant]
//   node worker.js restate <effects> <port> [mutant]
// A DBOS worker starts the cells' workflows (`soak-1` … `soak-<cells>`; those started before are
// found, and DBOS's launch runs again the ones a killed worker left) and prints `result <id>
// <json>` as each ends. A Restate worker serves the cell workflow (the soak submits the cells).
// `mutant` declares `charge` idempotent, though it is not: the soak must then see it made twice.
import { appendFileSync } from 'node:fs';
import type { JsonValue, NestedToolCall, ToolDefinition } from '../../src/index.js';
import { SOAK_CELL } from './cell.js';

const [engine, effects, where, ...rest] = process.argv.slice(2) as [string, string, string, ...string[]];
const mutant = rest.includes('mutant');

const tools: ToolDefinition[] = [
  { name: 'charge', ...(mutant ? { idempotent: true } : {}) },
  { name: 'rate', idempotent: true },
  { name: 'lookup' },
];

async function invokeTool(call: NestedToolCall): Promise<JsonValue> {
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 150));
  appendFileSync(effects, `${JSON.stringify({ key: call.idempotencyKey, tool: call.tool.name })}\n`);
  return 'done';
}

if (engine === 'dbos') {
  const { DBOS } = await import('@dbos-inc/dbos-sdk');
  const { registerCellWorkflow } = await import('../../adapters/dbos.js');
  DBOS.setConfig({ name: 'codecell-engine-soak', systemDatabaseUrl: where, logLevel: 'error' });
  const runCell = registerCellWorkflow({ tools, delegate: { invokeTool } });
  await DBOS.launch();
  process.stdout.write('launched\n');
  const cells = Number(rest[0]);
  await Promise.all(
    Array.from({ length: cells }, async (_, i) => {
      const workflowID = `soak-${i + 1}`;
      const handle = await DBOS.startWorkflow(runCell, { workflowID })(SOAK_CELL);
      process.stdout.write(`result ${workflowID} ${JSON.stringify(await handle.getResult())}\n`);
    }),
  );
  await DBOS.shutdown();
  process.exit(0);
} else {
  const restate = await import('@restatedev/restate-sdk');
  const { cellWorkflow } = await import('../../adapters/restate.js');
  await restate
    .endpoint()
    .bind(cellWorkflow({ tools, delegate: { invokeTool } }))
    .listen(Number(where));
  process.stdout.write('listening\n');
}
