// `codecell mcp` approvals (issue 53, SPEC §13): an upstream tool named in its config's
// `requiresApproval` pauses the cell that calls it (CellInterrupt); the server asks the person
// through the client's MCP elicitation, and only once they accept is the call made — its result is
// what the cell gets. Declined (or answered with no elicitation result) the call fails in the cell;
// cancelled, --on-cancel decides. A client without elicitation is warned and approves through wait.
// Driven by the official MCP SDK client, with @modelcontextprotocol/server-everything upstream.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, test, type TestContext } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { tempFile } from './helpers.js';

const CLI = fileURLToPath(new URL('../../bin/codecell.js', import.meta.url));
const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');

type Result = { content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };

/** codecell mcp over server-everything whose `echo` needs approval; `decide` answers each ask. */
async function approvingClient(t: TestContext, decide: (message: string) => 'accept' | 'decline' | 'cancel') {
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

// Each test starts its own codecell mcp: they run at once.
describe('codecell mcp approvals', { concurrency: true, timeout: 90_000 }, () => {
  test('codecell mcp: a call that requires approval is asked for through elicitation, made once accepted', async (t) => {
    const { client, asked } = await approvingClient(t, () => 'accept');
    const result = (await client.callTool({ name: 'exec', arguments: { source: CELL } })) as Result;
    assert.deepEqual(asked, [
      'A cell wants to call tools.everything__echo({"message":"pay The sum of 2 and 3 is 5."}). Allow it?',
    ]);
    assert.equal(result.structuredContent?.status, 'completed', JSON.stringify(result));
    assert.equal(result.structuredContent?.output, 'Echo: pay The sum of 2 and 3 is 5.');
  });

  test('codecell mcp: declined, the call fails in the cell saying so; the cell goes on', async (t) => {
    const { client, asked } = await approvingClient(t, () => 'decline');
    const source = `try { await tools.everything__echo({ message: "x" }) } catch (e) { text(e.message) }`;
    const result = (await client.callTool({ name: 'exec', arguments: { source } })) as Result;
    assert.equal(result.structuredContent?.status, 'completed', JSON.stringify(result));
    assert.equal(result.structuredContent?.output, 'tools.everything__echo was not run: a person declined this call');
    assert.equal(asked.length, 1);
  });

  test('codecell mcp: a cancelled ask follows --on-cancel (terminate, the default)', async (t) => {
    const { client } = await approvingClient(t, () => 'cancel');
    const result = (await client.callTool({ name: 'exec', arguments: { source: CELL } })) as Result;
    assert.equal(result.structuredContent?.status, 'terminated', JSON.stringify(result));
    const again = (await client.callTool({ name: 'wait', arguments: { cell_id: '1' } })) as Result & {
      isError?: boolean;
    };
    assert.equal(again.isError, true, 'the cell is gone: no second ask');
  });

  test('codecell mcp: an answer that is no elicitation result is a decline, at once', async (t) => {
    const { client, asked } = await approvingClient(t, () => 'accept');
    // What the client sends back for an ask is replaced on the wire by a bare string.
    const transport = (client as unknown as { transport: { send(message: Record<string, unknown>): Promise<void> } })
      .transport;
    const send = transport.send.bind(transport);
    transport.send = (message) => send('result' in message ? { ...message, result: 'yes' } : message);
    const started = performance.now();
    const source = `try { await tools.everything__echo({ message: "x" }) } catch (e) { text(e.message) }`;
    const result = (await client.callTool({ name: 'exec', arguments: { source } })) as Result;
    assert.equal(result.structuredContent?.output, 'tools.everything__echo was not run: a person declined this call');
    assert.equal(asked.length, 1);
    assert.ok(performance.now() - started < 30_000, 'not after the 60 s the SDK waits for an answer');
  });

  test('codecell mcp: a client without elicitation is warned, and approves through wait', async (t) => {
    const config = tempFile(
      t,
      'codecell-mcp-',
      JSON.stringify({
        mcpServers: {
          everything: { command: process.execPath, args: [EVERYTHING, 'stdio'], requiresApproval: ['echo'] },
        },
      }),
    );
    const client = new Client({ name: 'codecell-test', version: '1.0.0' });
    const warnings: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
      if (notification.params.level === 'warning') warnings.push(String(notification.params.data));
    });
    const transport = new StdioClientTransport({ command: CLI, args: ['mcp', '--config', config], stderr: 'ignore' });
    await client.connect(transport);
    t.after(() => client.close());
    const { tools } = await client.listTools();
    const wait = tools.find((tool) => tool.name === 'wait');
    assert.deepEqual(Object.keys(wait?.inputSchema.properties ?? {}).slice(-2), ['approve', 'decline']);
    const paused = (await client.callTool({ name: 'exec', arguments: { source: CELL } })) as Result;
    assert.equal(paused.structuredContent?.status, 'interrupted', JSON.stringify(paused));
    assert.deepEqual(paused.structuredContent?.pending_tool_calls, ['tool-2']);
    assert.match(warnings.join('\n'), /this client cannot ask its user \(no MCP elicitation\)/);
    const still = (await client.callTool({ name: 'wait', arguments: { cell_id: '1', yield_time_ms: 0 } })) as Result;
    assert.equal(still.structuredContent?.status, 'interrupted', 'a wait that names no call leaves it paused');
    const done = (await client.callTool({ name: 'wait', arguments: { cell_id: '1', approve: ['tool-2'] } })) as Result;
    assert.equal(done.structuredContent?.status, 'completed', JSON.stringify(done));
    assert.equal(done.structuredContent?.output, 'Echo: pay The sum of 2 and 3 is 5.');
  });
});
