// `codecell mcp` approvals (issue 53, SPEC §13): an upstream tool named in its config's
// `requiresApproval` pauses the cell that calls it (CellInterrupt); the server asks the person
// through the client's MCP elicitation, and only once they accept is the call made — its result is
// what the cell gets. Declined (or answered with no elicitation result) the call fails in the cell;
// cancelled, --on-cancel decides. A client without elicitation is warned and approves through wait.
// Driven by the official MCP SDK client, with @modelcontextprotocol/server-everything upstream.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, test, type TestContext } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { tempFile, waitFor } from './helpers.js';

const CLI = fileURLToPath(new URL('../../bin/codecell.js', import.meta.url));
const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');

type Result = { content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };

/** A config for codecell mcp: server-everything, whose `echo` needs approval. */
const CONFIG = JSON.stringify({
  mcpServers: { everything: { command: process.execPath, args: [EVERYTHING, 'stdio'], requiresApproval: ['echo'] } },
});

/** An MCP SDK client over its own codecell mcp (with elicitation: `answer` answers each ask). */
async function mcpClient(t: TestContext, answer?: () => 'accept' | 'decline' | 'cancel', configText = CONFIG) {
  const config = tempFile(t, 'codecell-mcp-', configText);
  const asked: string[] = [];
  const warnings: string[] = [];
  const capabilities = answer === undefined ? {} : { capabilities: { elicitation: {} } };
  const client = new Client({ name: 'codecell-test', version: '1.0.0' }, capabilities);
  if (answer !== undefined)
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(String((request.params as { message?: unknown }).message));
      return { action: answer(), content: {} };
    });
  client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
    if (notification.params.level === 'warning') warnings.push(String(notification.params.data));
  });
  const transport = new StdioClientTransport({ command: CLI, args: ['mcp', '--config', config], stderr: 'ignore' });
  return { client, asked, warnings, connected: client.connect(transport) };
}

const CELL =
  'const sum = await tools.everything__get_sum({ a: 2, b: 3 }); ' +
  'const echoed = await tools.everything__echo({ message: "pay " + sum }); text(String(echoed))';
const CATCHING = `try { await tools.everything__echo({ message: "x" }) } catch (e) { text(e.message) }`;
const DECLINED = 'tools.everything__echo was not run: a person declined this call';

// Two codecell mcp processes, started at once: one client that elicits (its user's answer set
// before each exec in turn), one that cannot.
describe('codecell mcp approvals', { timeout: 90_000 }, () => {
  test('elicitation: accepted it is made; declined or malformed it fails; cancelled it ends. Without: warned, approves through wait', async (t) => {
    let answer: 'accept' | 'decline' | 'cancel' = 'accept';
    const { client, asked, connected, warnings: unwarned } = await mcpClient(t, () => answer);
    const bare = await mcpClient(t);
    t.after(() => Promise.all([client.close(), bare.client.close()]));
    await Promise.all([connected, bare.connected]);
    const exec = async (source: string) =>
      ((await client.callTool({ name: 'exec', arguments: { source } })) as Result).structuredContent ?? {};

    // What the cell printed before it paused comes with the answer too.
    const accepted = await exec(`text("ran"); ${CELL}`);
    assert.deepEqual(asked.splice(0), [
      'A cell wants to call tools.everything__echo({"message":"pay The sum of 2 and 3 is 5."}). Allow it?',
    ]);
    assert.deepEqual([accepted.status, accepted.output], ['completed', 'ran\nEcho: pay The sum of 2 and 3 is 5.']);

    answer = 'decline';
    const declined = await exec(CATCHING);
    assert.deepEqual([declined.status, declined.output, asked.splice(0).length], ['completed', DECLINED, 1]);

    // What the client sends back for an ask is replaced on the wire by a bare string.
    answer = 'accept';
    const transport = (client as unknown as { transport: { send(message: Record<string, unknown>): Promise<void> } })
      .transport;
    const send = transport.send.bind(transport);
    transport.send = (message) => send('result' in message ? { ...message, result: 'yes' } : message);
    const started = performance.now();
    const malformed = await exec(CATCHING);
    transport.send = send;
    assert.deepEqual([malformed.output, asked.splice(0).length], [DECLINED, 1]);
    assert.ok(performance.now() - started < 30_000, 'not after the 60 s the SDK waits for an answer');

    answer = 'cancel'; // --on-cancel terminate, the default
    const cancelled = await exec(CELL);
    assert.equal(cancelled.status, 'terminated', JSON.stringify(cancelled));
    const again = (await client.callTool({ name: 'wait', arguments: { cell_id: cancelled.cell_id } })) as Result & {
      isError?: boolean;
    };
    assert.deepEqual([again.isError, asked.splice(0).length], [true, 1], 'the cell is gone: no second ask');

    // A client without elicitation is warned (one with it is not), and approves through wait.
    const { warnings } = bare;
    assert.deepEqual(unwarned, []);
    const { tools } = await bare.client.listTools();
    const wait = tools.find((tool) => tool.name === 'wait');
    assert.deepEqual(Object.keys(wait?.inputSchema.properties ?? {}).slice(-2), ['approve', 'decline']);
    const paused = (await bare.client.callTool({ name: 'exec', arguments: { source: CELL } })) as Result;
    assert.equal(paused.structuredContent?.status, 'interrupted', JSON.stringify(paused));
    assert.deepEqual(paused.structuredContent?.pending_tool_calls, ['tool-2']);
    await waitFor(() => warnings.length > 0);
    assert.match(warnings.join('\n'), /this client cannot ask its user \(no MCP elicitation\)/);
    const still = (await bare.client.callTool({
      name: 'wait',
      arguments: { cell_id: '1', yield_time_ms: 0 },
    })) as Result;
    assert.equal(still.structuredContent?.status, 'interrupted', 'a wait that names no call leaves it paused');
    const done = (await bare.client.callTool({
      name: 'wait',
      arguments: { cell_id: '1', approve: ['tool-2'] },
    })) as Result;
    assert.deepEqual(
      [done.structuredContent?.status, done.structuredContent?.output],
      ['completed', 'Echo: pay The sum of 2 and 3 is 5.'],
    );
  });

  test('requiresApproval names a tool as its upstream, or as the cell does (with or without its namespace)', async (t) => {
    const approving = (names: string[]) =>
      JSON.stringify({
        mcpServers: { everything: { command: process.execPath, args: [EVERYTHING, 'stdio'], requiresApproval: names } },
      });
    const { client, connected } = await mcpClient(t, undefined, approving(['get_sum', 'everything__echo']));
    t.after(() => client.close());
    await connected;
    const call = async (name: string, args: Record<string, unknown>) =>
      ((await client.callTool({ name, arguments: args })) as Result).structuredContent ?? {};
    const first = await call('exec', { source: CELL });
    assert.deepEqual([first.status, first.pending_tool_calls], ['interrupted', ['tool-1']], JSON.stringify(first));
    const second = await call('wait', { cell_id: first.cell_id, approve: ['tool-1'] });
    assert.deepEqual([second.status, second.pending_tool_calls], ['interrupted', ['tool-2']], JSON.stringify(second));
    const done = await call('wait', { cell_id: first.cell_id, approve: ['tool-2'] });
    assert.deepEqual([done.status, done.output], ['completed', 'Echo: pay The sum of 2 and 3 is 5.']);
  });

  test('a requiresApproval name that is no tool of its upstream stops codecell mcp at start, naming the closest', async (t) => {
    const config = tempFile(
      t,
      'codecell-mcp-',
      JSON.stringify({
        mcpServers: {
          everything: { command: process.execPath, args: [EVERYTHING, 'stdio'], requiresApproval: ['get-sum', 'add'] },
        },
      }),
    );
    const child = spawn(process.execPath, [CLI, 'mcp', '--config', config], { stdio: ['pipe', 'ignore', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 2, stderr);
    assert.match(
      stderr,
      /^codecell mcp: upstream everything: "requiresApproval" names "add", which is none of its tools \(closest: "[^"]+", "[^"]+", "[^"]+"\)$/m,
    );
    assert.doesNotMatch(stderr, /names "get-sum"/);
  });
});
