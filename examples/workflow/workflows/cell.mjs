// The cell workflow (docs/workflow.md): the DevKit compiles this file. The workflow function runs
// in the DevKit's sandbox and advances the cell; the two steps run in Node: one runs the cell, the
// other makes one nested call.
import { getWorkflowMetadata } from 'workflow';
import { advanceCell, callTool, cellLoop } from 'codecell/workflow';

const options = {
  tools: [{ name: 'double', description: 'Doubles n', inputSchema: { type: 'object', properties: { n: { type: 'number' } } } }],
  delegate: { invokeTool: async (call) => call.input.n * 2 },
};

export async function runCell(source) {
  'use workflow';
  return cellLoop(getWorkflowMetadata().workflowRunId, source, { advance, call });
}

async function advance(source, journal) {
  'use step';
  return advanceCell(options, source, journal);
}

async function call(nested) {
  'use step';
  return callTool(options, nested);
}
