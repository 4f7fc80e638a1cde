// `codecell mcp` approvals (issue 53, SPEC §13): an upstream tool named in its config's
// `requiresApproval` pauses the cell that calls it (CellInterrupt); the server asks the person
// through the client's MCP elicitation, and only once they accept is the call made — its result is
// what the cell gets. A declined ask leaves the cell paused, as the structured result says.
// Driven by the official MCP SDK client, with @modelcontextprotocol/server-everything upstream.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { tempFile } from './helpers.js';

const CLI = fileURLToPath(new URL('../../bin/codecell.js', import.meta.url));
const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');

type Result = { content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };

/** codecell mcp over server-everything whose `echo` needs approval; `decide` answers each ask. */
async function approvingClient(t: TestContext, decide: (message: string) => 'accept' | 'decline') {
  const config = tempFile(
    t,
    'codecell-mcp-',
    JSON.stringify({
      mcpServers: {
        everything: { command: process.execPath, args: [EVERYTHING, 'stdio'], requiresApproval: ['echo'] },
      },
    }),
  );
  const asked: string[] = [];
  const client = new Client({ name: 'codecell-test', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    const message = String((request.params as { message?: unknown }).message);
    asked.push(message);
    return { action: decide(message), content: {} };
  });
  const transport = new StdioClientTransport({ command: CLI, args: ['mcp', '--config', config], stderr: 'ignore' });
  await client.connect(transport);
  t.after(() => client.close());
  return { client, asked };
}

const CELL =
  'const sum = await tools.everything__get_sum({ a: 2, b: 3 }); ' +
  'const echoed = await tools.everything__echo({ message: "pay " + sum }); text(String(echoed))';

test('codecell mcp: a call that requires approval is asked for through elicitation, made once accepted', async (t) => {
  const { client, asked } = await approvingClient(t, () => 'accept');
  const result = (await client.callTool({ name: 'exec', arguments: { source: CELL } })) as Result;
  assert.deepEqual(asked, [
    'A cell wants to call tools.everything__echo({"message":"pay The sum of 2 and 3 is 5."}). Allow it?',
  ]);
  assert.equal(result.structuredContent?.status, 'completed', JSON.stringify(result));
  assert.equal(result.structuredContent?.output, 'Echo: pay The sum of 2 and 3 is 5.');
});

test('codecell mcp: declined, the cell stays paused (interrupted); the next wait asks again', async (t) => {
  let answer: 'accept' | 'decline' = 'decline';
  const { client, asked } = await approvingClient(t, () => answer);
  const paused = (await client.callTool({ name: 'exec', arguments: { source: CELL } })) as Result;
  assert.equal(paused.structuredContent?.status, 'interrupted', JSON.stringify(paused));
  assert.match(String(paused.structuredContent?.error), /paused at tools\.everything__echo \(tool-2\)/);
  const cellId = String(paused.structuredContent?.cell_id);
  answer = 'accept';
  const done = (await client.callTool({ name: 'wait', arguments: { cell_id: cellId } })) as Result;
  assert.equal(done.structuredContent?.status, 'completed', JSON.stringify(done));
  assert.equal(done.structuredContent?.output, 'Echo: pay The sum of 2 and 3 is 5.');
  assert.equal(asked.length, 2);
});
