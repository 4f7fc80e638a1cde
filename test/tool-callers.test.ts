// Where a call came from (issue 65): a framework tool a cell calls learns it came from code, in
// the framework's own field (the Agents SDK's toolCall.caller, with the cell's id), and a tool its
// framework keeps from code (Agents SDK allowedCallers, the AI SDK's experimental_toolCallers) is
// not offered to cells, nor declared to the model.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tool as agentsTool } from '@openai/agents';
import { tool } from 'ai';
import { z } from 'zod';
import { aiSdkToolSource } from '../adapters/ai-sdk.js';
import { agentsToolSource } from '../adapters/openai-agents.js';
import { renderToolDeclarations } from '../src/index.js';
import { newRuntime } from './helpers.js';

test('codecell/openai-agents: calls are tagged as made by the cell; a direct-only tool is not offered', async (t) => {
  const callers: unknown[] = [];
  const tools = [
    agentsTool({
      name: 'lookup',
      description: 'Looks an id up',
      parameters: z.object({ id: z.number() }),
      allowedCallers: ['direct', 'programmatic'],
      execute: async ({ id }, _context, details) => (callers.push(details?.toolCall?.caller), id),
    }),
    agentsTool({
      name: 'wire',
      description: 'Sends money',
      parameters: z.object({ amount: z.number() }),
      allowedCallers: ['direct'],
      execute: async () => 'sent',
    }),
  ];
  const source = agentsToolSource(tools);
  assert.deepEqual(
    source.tools.map(({ name }) => name),
    ['lookup'],
  );
  assert.doesNotMatch(renderToolDeclarations(source.tools), /wire/);
  const session = newRuntime(t, { ...source.delegate, notify: async () => {} }, { tools: source.tools });
  const cell = await session.execute({ source: 'text(String(await tools.lookup({ id: 7 })))' });
  assert.deepEqual((await cell.initialEvent).items, [{ type: 'text', text: '7' }]);
  assert.deepEqual(callers, [{ type: 'program', callerId: 'cell-1' }]);
});

test('codecell/ai-sdk: a tool whose experimental_toolCallers leave out exec is not offered to cells', async () => {
  const toolSet = {
    lookup: tool({ inputSchema: z.object({}), execute: async () => 1 }),
    wire: tool({ inputSchema: z.object({}), execute: async () => 'sent' }),
    archive: tool({ inputSchema: z.object({}), execute: async () => 'kept' }),
  };
  const toolCallers = { wire: ['AI_SDK_DIRECT_TOOL_CALL'], archive: ['AI_SDK_DIRECT_TOOL_CALL', 'exec'] };
  const source = await aiSdkToolSource(toolSet, {}, { toolCallers });
  assert.deepEqual(
    source.tools.map(({ name }) => name),
    ['lookup', 'archive'],
  );
  const renamed = await aiSdkToolSource(toolSet, {}, { toolCallers, callerName: 'run_code' });
  assert.deepEqual(
    renamed.tools.map(({ name }) => name),
    ['lookup'],
  );
});
