// A cell as a DBOS workflow (docs/dbos.md): each nested call a step. Needs PostgreSQL:
// DBOS_SYSTEM_DATABASE_URL=postgres://user@host:5432/dbos_example node examples/dbos.mjs
import { DBOS } from '@dbos-inc/dbos-sdk';
import { generateText, isStepCount, jsonSchema, tool } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { registerCellWorkflow } from 'codecell/dbos';

const runCell = registerCellWorkflow({
  tools: [{ name: 'double', description: 'Doubles n', inputSchema: { type: 'object', properties: { n: { type: 'number' } } } }],
  delegate: { invokeTool: async (call) => call.input.n * 2 },
});
DBOS.setConfig({ name: 'codecell-example', systemDatabaseUrl: process.env.DBOS_SYSTEM_DATABASE_URL, logLevel: 'error' });
await DBOS.launch();

// The agent's one tool runs a cell as a workflow: were this process killed mid-cell, DBOS would run
// it again at the next launch, each call it had made read back from its step.
const exec = tool({
  description: 'Runs a JavaScript cell; tools.double({ n }) doubles n; text() prints',
  inputSchema: jsonSchema({ type: 'object', properties: { source: { type: 'string' } }, required: ['source'] }),
  execute: async ({ source }) => (await runCell(source)).items.map((item) => item.text).join('\n'),
});
const usage = { inputTokens: { total: 1 }, outputTokens: { total: 1 } };
const call = { type: 'tool-call', toolCallId: '1', toolName: 'exec', input: '{"source":"text(await tools.double({ n: 21 }))"}' };
let step = 0; // a test model: it calls exec, then answers
const model = new MockLanguageModelV4({
  doGenerate: async () =>
    step++ === 0
      ? { content: [call], finishReason: { unified: 'tool-calls' }, usage, warnings: [] }
      : { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop' }, usage, warnings: [] },
});
const result = await generateText({ model, tools: { exec }, prompt: 'Double 21', stopWhen: isStepCount(2) });
console.log(result.steps[0].toolResults[0].output, result.text);
await DBOS.shutdown();
