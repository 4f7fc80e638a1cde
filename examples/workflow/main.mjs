// A cell on Vercel's Workflow DevKit (docs/workflow.md), each nested call a step: node examples/workflow/main.mjs
// A framework plugin (Next.js, Nitro, …) builds the workflow and serves it; here the DevKit's own
// builder makes the bundles, and its local world runs them in this process.
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BaseBuilder, createBaseBuilderConfig } from '@workflow/builders';
import { setWorld } from '@workflow/core/runtime';
import { createLocalWorld } from '@workflow/world-local';
import { generateText, isStepCount, jsonSchema, tool } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { start } from 'workflow/api';

const here = fileURLToPath(new URL('.', import.meta.url));
class Bundles extends BaseBuilder {
  async build() {
    const inputFiles = await this.getInputFiles();
    await mkdir(`${here}.build`, { recursive: true });
    await this.createWorkflowsBundle({ outfile: `${here}.build/workflows.mjs`, bundleFinalOutput: false, format: 'esm', inputFiles });
    await this.createStepsBundle({ outfile: `${here}.build/steps.mjs`, externalizeNonSteps: true, format: 'esm', inputFiles });
  }
}
const config = createBaseBuilderConfig({ workingDir: here, dirs: ['workflows'], externalPackages: ['codecell'] });
await new Bundles({ ...config, buildTarget: 'next', suppressCreateWorkflowsBundleLogs: true }).build();
const world = createLocalWorld({ dataDir: `${here}.build/data` });
world.registerHandler('__wkf_workflow_', (await import(`${here}.build/workflows.mjs`)).POST);
world.registerHandler('__wkf_step_', (await import(`${here}.build/steps.mjs`)).POST);
await world.start();
setWorld(world);

// The agent's one tool runs a cell as a workflow run: were this process killed mid-cell, the local
// world would take the run up at the next start, each call it had made read back from its step.
const exec = tool({
  description: 'Runs a JavaScript cell; tools.double({ n }) doubles n; text() prints',
  inputSchema: jsonSchema({ type: 'object', properties: { source: { type: 'string' } }, required: ['source'] }),
  execute: async ({ source }) => {
    const run = await start({ workflowId: 'workflow//./workflows/cell//runCell' }, [source]);
    return (await run.returnValue).items.map((item) => item.text).join('\n');
  },
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
await world.close();
