// A cell as a Restate workflow (docs/restate.md): each nested call a `ctx.run`. Needs a Restate
// server: RESTATE_INGRESS_URL=http://localhost:8080 RESTATE_ADMIN_URL=http://localhost:9070 node examples/restate.mjs
import * as restate from '@restatedev/restate-sdk';
import { generateText, isStepCount, jsonSchema, tool } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { cellWorkflow } from 'codecell/restate';

const cells = cellWorkflow({
  tools: [{ name: 'double', description: 'Doubles n', inputSchema: { type: 'object', properties: { n: { type: 'number' } } } }],
  delegate: { invokeTool: async (call) => call.input.n * 2 },
});
const port = Number(process.env.PORT ?? 9080);
await restate.endpoint().bind(cells).listen(port); // this process is the worker...
const register = await fetch(`${process.env.RESTATE_ADMIN_URL}/deployments`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ uri: `http://127.0.0.1:${port}`, force: true }),
});
if (!register.ok) throw new Error(`registering the worker: ${register.status} ${await register.text()}`);

// ...and the agent, whose one tool runs a cell as a workflow through Restate's ingress: were the
// worker killed mid-cell, Restate would run it again on the next, each call read back from its run.
const exec = tool({
  description: 'Runs a JavaScript cell; tools.double({ n }) doubles n; text() prints',
  inputSchema: jsonSchema({ type: 'object', properties: { source: { type: 'string' } }, required: ['source'] }),
  execute: async ({ source }, { toolCallId }) => {
    const response = await fetch(`${process.env.RESTATE_INGRESS_URL}/codecell/${toolCallId}/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(source),
    });
    return (await response.json()).items.map((item) => item.text).join('\n');
  },
});
const usage = { inputTokens: { total: 1 }, outputTokens: { total: 1 } };
const call = { type: 'tool-call', toolCallId: 'exec-1', toolName: 'exec', input: '{"source":"text(await tools.double({ n: 21 }))"}' };
let step = 0; // a test model: it calls exec, then answers
const model = new MockLanguageModelV4({
  doGenerate: async () =>
    step++ === 0
      ? { content: [call], finishReason: { unified: 'tool-calls' }, usage, warnings: [] }
      : { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop' }, usage, warnings: [] },
});
const result = await generateText({ model, tools: { exec }, prompt: 'Double 21', stopWhen: isStepCount(2) });
console.log(result.steps[0].toolResults[0].output, result.text);
process.exit(0); // the endpoint would serve on
