// codecell mcp --http speaks MCP revision 2026-07-28 beside 2025-11-25 (issue 84): the official
// conformance suite's 2026-07-28 requirements, the SDK v2 client pinned to that revision (cells
// good across requests and connections, progress), and approvals as input_required results whose
// sealed requestState is refused when tampered with or spent.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { tempFile, tempFolder } from './helpers.js';
import { CLI, connect, startHttp, textsOf, TWO_TOOLS_CELL, TWO_TOOLS_TEXT, type Result } from './mcp-http-helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');
const CONFORMANCE = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const BASELINE = join(ROOT, 'test/conformance-baseline-2026-07-28.yml');
const EVERYTHING_UPSTREAM = `${process.execPath} ${EVERYTHING} stdio`;
/** server-everything's echo needs a person's approval. */
const APPROVING = JSON.stringify({
  mcpServers: { everything: { command: process.execPath, args: [EVERYTHING, 'stdio'], requiresApproval: ['echo'] } },
});

type Structured = Result & { structuredContent?: Record<string, unknown> };

/** An SDK v2 client on revision 2026-07-28 (no initialize, no session); `answer` answers each ask. */
async function modernClient(t: TestContext, url: string, answer?: () => 'accept' | 'decline') {
  const asked: string[] = [];
  const client = new Client(
    { name: 'codecell-modern-test', version: '1.0.0' },
    {
      versionNegotiation: { mode: { pin: '2026-07-28' } },
      ...(answer === undefined ? {} : { capabilities: { elicitation: {} } }),
    },
  );
  if (answer !== undefined)
    client.setRequestHandler('elicitation/create', async (request) => {
      asked.push(String((request.params as { message?: unknown }).message));
      return { action: answer(), content: {} };
    });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  t.after(() => client.close());
  return { client, asked };
}

/** One raw 2026-07-28 request (as a client sends it), its JSON-RPC answer. */
async function modernRequest(
  url: string,
  id: number,
  method: string,
  params: Record<string, unknown>,
  capabilities: Record<string, unknown> = { elicitation: {} },
) {
  const body = {
    jsonrpc: '2.0',
    id,
    method,
    params: {
      ...params,
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities': capabilities,
        'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
      },
    },
  };
  // Mcp-Name: the tool's name, or for the task methods the task's id.
  const named = params.name ?? params.taskId;
  const name: Record<string, string> = typeof named === 'string' ? { 'Mcp-Name': named } : {};
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': '2026-07-28',
      'Mcp-Method': method,
      ...name,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  // A JSON body, or an SSE stream whose last data line is the answer.
  const json = text.startsWith('{')
    ? text
    : (text
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .at(-1) ?? '');
  return JSON.parse(json.replace(/^data:\s*/, '')) as {
    id: number;
    result?: Record<string, unknown>;
    error?: { code: number; message: string };
  };
}

describe('codecell mcp --http, revision 2026-07-28', { timeout: 400_000 }, () => {
  test('the conformance suite: every 2026-07-28 requirement that applies passes (the rest are listed, with why)', async (t) => {
    const { url } = await startHttp(t, EVERYTHING_UPSTREAM);
    const args = ['server', '--url', url, '--requirements', '2026-07-28', '--expected-failures', BASELINE];
    const run = spawnSync(process.execPath, [CONFORMANCE, ...args], {
      encoding: 'utf8',
      timeout: 140_000,
      cwd: tempFolder(t, 'codecell-conformance-'),
    });
    const summary = run.stdout.slice(run.stdout.indexOf('=== SUMMARY ==='));
    assert.equal(run.status, 0, `${summary}\n${run.stderr}`);
    for (const scenario of ['tools-list', 'tools-call-error', 'http-header-validation', 'dns-rebinding-protection'])
      assert.match(summary, new RegExp(`✓ ${scenario}: [1-9]\\d* passed, 0 failed`), scenario);
    // Left out in part: their other checks passed (the baseline names the failing ones).
    assert.match(summary, /server-stateless: 2\d passed, 2 failed/);
    assert.match(summary, /caching: 4 passed, 3 failed/);
  });

  test('the SDK v2 client: no session, a cell id good in a later request from another client, progress, both revisions at once', async (t) => {
    const { url } = await startHttp(t, EVERYTHING_UPSTREAM);
    const { client } = await modernClient(t, url);
    assert.deepEqual([client.getProtocolEra(), client.getNegotiatedProtocolVersion()], ['modern', '2026-07-28']);
    const { tools } = await client.listTools();
    assert.deepEqual(
      tools.map((tool) => tool.name),
      ['exec', 'wait'],
    );
    const both = (await client.callTool({ name: 'exec', arguments: { source: TWO_TOOLS_CELL } })) as Result;
    assert.match(textsOf(both)[0] ?? '', TWO_TOOLS_TEXT);

    // The cell outlives the exec's yield; how much it printed by then is the machine's business,
    // so the two answers are judged together: every line once, in order, across them.
    const progress: string[] = [];
    const first = (await client.callTool(
      {
        name: 'exec',
        arguments: {
          source: 'text("a"); await new Promise((r) => setTimeout(r, 2_000)); text("b")',
          yield_time_ms: 50,
        },
      },
      { onprogress: (update) => progress.push(update.message ?? '') },
    )) as Structured;
    assert.equal(first.structuredContent?.status, 'yielded');
    const early = String(first.structuredContent?.output);
    assert.deepEqual(progress, early === '' ? [] : [early], 'progress carries what the exec saw');
    // Another client, another connection: the cell is the same (no server session to lose).
    const { client: other } = await modernClient(t, url);
    const rest = (await other.callTool({
      name: 'wait',
      arguments: { cell_id: first.structuredContent?.cell_id, yield_time_ms: 30_000 },
    })) as Structured;
    assert.equal(rest.structuredContent?.status, 'completed');
    const lines = [early, String(rest.structuredContent?.output)].filter((text) => text !== '');
    assert.equal(lines.join('\n'), 'a\nb');

    // A 2025-11-25 client of the same endpoint keeps its own session, as before.
    const legacy = await connect(t, url);
    const old = (await legacy.callTool({ name: 'exec', arguments: { source: 'text("legacy")' } })) as Result;
    assert.deepEqual(textsOf(old), ['legacy', 'cell 1 completed']);
  });

  test('an approval as an input_required result: asked about the real call, accepted it is made once, declined it fails', async (t) => {
    const config = tempFile(t, 'codecell-mcp-', APPROVING);
    const { url } = await startHttp(t, undefined, { extra: ['--config', config] });
    let answer: 'accept' | 'decline' = 'accept';
    const { client, asked } = await modernClient(t, url, () => answer);
    const cell =
      'text("ran"); const sum = await tools.everything__get_sum({ a: 2, b: 3 }); ' +
      'const echoed = await tools.everything__echo({ message: "pay " + sum }); text(String(echoed))';
    const accepted = (await client.callTool({ name: 'exec', arguments: { source: cell } })) as Structured;
    assert.deepEqual(asked.splice(0), [
      'A cell wants to call tools.everything__echo({"message":"pay The sum of 2 and 3 is 5."}). Allow it?',
    ]);
    // The retry went on with the paused cell: its source ran once ("ran" once).
    assert.deepEqual(
      [accepted.structuredContent?.status, accepted.structuredContent?.output],
      ['completed', 'ran\nEcho: pay The sum of 2 and 3 is 5.'],
    );
    // The same SDK v2 client on revision 2025-11-25 (a session): asked through elicitation.
    const legacyAsked: string[] = [];
    const legacy = new Client(
      { name: 'codecell-legacy-test', version: '1.0.0' },
      { capabilities: { elicitation: {} } },
    );
    legacy.setRequestHandler('elicitation/create', async (request) => {
      legacyAsked.push(String((request.params as { message?: unknown }).message));
      return { action: 'accept', content: {} };
    });
    await legacy.connect(new StreamableHTTPClientTransport(new URL(url)));
    t.after(() => legacy.close());
    assert.deepEqual([legacy.getProtocolEra(), legacy.getNegotiatedProtocolVersion()], ['legacy', '2025-11-25']);
    const old = (await legacy.callTool({ name: 'exec', arguments: { source: cell } })) as Structured;
    assert.deepEqual(
      [old.structuredContent?.output, legacyAsked.length],
      ['ran\nEcho: pay The sum of 2 and 3 is 5.', 1],
    );

    answer = 'decline';
    const catching = 'try { await tools.everything__echo({ message: "x" }) } catch (e) { text(e.message) }';
    const declined = (await client.callTool({ name: 'exec', arguments: { source: catching } })) as Structured;
    assert.deepEqual(
      [declined.structuredContent?.output, asked.length],
      ['tools.everything__echo was not run: a person declined this call', 1],
    );
  });

  test('a requestState tampered with, or answered once already, is refused with -32602 and the request id', async (t) => {
    const config = tempFile(t, 'codecell-mcp-', APPROVING);
    const { url } = await startHttp(t, undefined, { extra: ['--config', config] });
    const call = { name: 'exec', arguments: { source: 'text(await tools.everything__echo({ message: "once" }))' } };
    const asking = await modernRequest(url, 1, 'tools/call', call);
    const result = asking.result ?? {};
    assert.equal(result.resultType, 'input_required', JSON.stringify(asking));
    const requests = result.inputRequests as Record<string, { method: string; params: { message: string } }>;
    assert.deepEqual(Object.keys(requests), ['approval']);
    assert.equal(requests.approval?.method, 'elicitation/create');
    assert.equal(
      requests.approval?.params.message,
      'A cell wants to call tools.everything__echo({"message":"once"}). Allow it?',
    );
    const state = String(result.requestState);
    const accept = { approval: { action: 'accept', content: {} } };

    const flipped = state.slice(0, -2) + (state.at(-2) === 'A' ? 'B' : 'A') + state.at(-1);
    const tampered = await modernRequest(url, 2, 'tools/call', {
      ...call,
      inputResponses: accept,
      requestState: flipped,
    });
    assert.deepEqual([tampered.id, tampered.error?.code], [2, -32602], JSON.stringify(tampered));

    const answered = await modernRequest(url, 3, 'tools/call', {
      ...call,
      inputResponses: accept,
      requestState: state,
    });
    const done = answered.result?.structuredContent as Record<string, unknown> | undefined;
    assert.deepEqual([done?.status, done?.output], ['completed', 'Echo: once'], JSON.stringify(answered));

    const replayed = await modernRequest(url, 4, 'tools/call', {
      ...call,
      inputResponses: accept,
      requestState: state,
    });
    assert.deepEqual([replayed.id, replayed.error?.code], [4, -32602], JSON.stringify(replayed));
    assert.match(replayed.error?.message ?? '', /answered already|moved on/);
  });

  test('over stdio: the first message says the revision; a 2026-07-28 client gets the stateless leg, cells good across requests', async (t) => {
    const client = new Client(
      { name: 'codecell-modern-stdio', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    const args = ['--no-node-snapshot', CLI, 'mcp', '--upstream', EVERYTHING_UPSTREAM];
    await client.connect(new StdioClientTransport({ command: process.execPath, args, stderr: 'ignore' }));
    t.after(() => client.close());
    assert.deepEqual(
      (await client.listTools()).tools.map((tool) => tool.name),
      ['exec', 'wait'],
    );
    const first = (await client.callTool({
      name: 'exec',
      arguments: { source: 'store("n", 41); text("stored")' },
    })) as Structured;
    const second = (await client.callTool({
      name: 'exec',
      arguments: { source: 'text(load("n") + 1)' },
    })) as Structured;
    assert.deepEqual(
      [first.structuredContent?.output, second.structuredContent?.output, second.structuredContent?.cell_id],
      ['stored', '42', '2'],
    );
  });

  test('tasks: a long exec becomes a task for a client that declares the extension; polled, approved, cancelled', async (t) => {
    const config = tempFile(t, 'codecell-mcp-', APPROVING);
    const { url } = await startHttp(t, undefined, { extra: ['--config', config] });
    const TASKS = { elicitation: {}, extensions: { 'io.modelcontextprotocol/tasks': {} } };
    let id = 10;
    const request = (method: string, params: Record<string, unknown>, capabilities = TASKS) =>
      modernRequest(url, ++id, method, params, capabilities);
    /** Polls tasks/get until the task leaves `working` (or reaches `until`). */
    const poll = async (taskId: string, until = (status: unknown) => status !== 'working') => {
      for (;;) {
        const got = await request('tasks/get', { taskId });
        if (got.error !== undefined || until(got.result?.status)) return got;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const exec = (source: string) => request('tools/call', { name: 'exec', arguments: { source, yield_time_ms: 50 } });

    const started = await exec('text("a"); await new Promise((r) => setTimeout(r, 1_500)); text("b")');
    assert.equal(started.result?.resultType, 'task', JSON.stringify(started));
    assert.equal(started.result?.status, 'working');
    assert.equal(typeof started.result?.pollIntervalMs, 'number');
    const done = await poll(String(started.result?.taskId));
    assert.deepEqual([done.result?.resultType, done.result?.status], ['complete', 'completed'], JSON.stringify(done));
    const finished = (done.result?.result as { structuredContent?: Record<string, unknown> }).structuredContent;
    assert.deepEqual([finished?.status, finished?.output], ['completed', 'a\nb'], 'every line since the exec');

    // A pause in a task: input_required on tasks/get, answered by tasks/update.
    const paying = await exec(
      'text("x"); await new Promise((r) => setTimeout(r, 1_500)); text(await tools.everything__echo({ message: "later" }))',
    );
    const taskId = String(paying.result?.taskId);
    const asking = await poll(taskId);
    assert.equal(asking.result?.status, 'input_required', JSON.stringify(asking));
    const requests = asking.result?.inputRequests as Record<string, { params: { message: string } }>;
    const [key = '', asked] = Object.entries(requests)[0] ?? [];
    assert.equal(asked?.params.message, 'A cell wants to call tools.everything__echo({"message":"later"}). Allow it?');
    const update = await request('tasks/update', {
      taskId,
      inputResponses: { [key]: { action: 'accept', content: {} } },
    });
    assert.deepEqual(update.result?.resultType, 'complete', JSON.stringify(update));
    const approved = await poll(taskId, (status) => status === 'completed');
    const paid = (approved.result?.result as { structuredContent?: Record<string, unknown> }).structuredContent;
    assert.deepEqual([paid?.status, paid?.output], ['completed', 'x\nEcho: later']);

    // tasks/cancel terminates the cell.
    const endless = await exec('text("spin"); await new Promise(() => {})');
    const endlessId = String(endless.result?.taskId);
    assert.equal((await request('tasks/cancel', { taskId: endlessId })).result?.resultType, 'complete');
    const cancelled = await poll(endlessId);
    assert.equal(cancelled.result?.status, 'cancelled');
    const cellId = /^cell (\S+) was terminated$/.exec(String(cancelled.result?.statusMessage))?.[1];
    // Its cell is gone: its outcome was taken by the cancel.
    const gone = await request('tools/call', { name: 'wait', arguments: { cell_id: cellId, yield_time_ms: 0 } });
    assert.match(JSON.stringify(gone.result?.content), new RegExp(`cell ${cellId} has finished`));

    // Without the extension: no task (a yielded result), and the task methods are -32021.
    const plain = await request(
      'tools/call',
      { name: 'exec', arguments: { source: 'await new Promise((r) => setTimeout(r, 1_500))', yield_time_ms: 20 } },
      { elicitation: {} } as typeof TASKS,
    );
    assert.equal(
      (plain.result?.structuredContent as Record<string, unknown>)?.status,
      'yielded',
      JSON.stringify(plain),
    );
    const gated = await request('tasks/get', { taskId }, { elicitation: {} } as typeof TASKS);
    assert.equal(gated.error?.code, -32021, JSON.stringify(gated));
    const unknown = await request('tasks/get', { taskId: 'no-such-task' });
    assert.equal(unknown.error?.code, -32602, JSON.stringify(unknown));
  });

  test('a client without elicitation (the Inspector CLI) approves through wait across requests, ids typed loosely', async (t) => {
    const config = tempFile(t, 'codecell-mcp-', APPROVING);
    const { url } = await startHttp(t, undefined, { extra: ['--config', config] });
    const bare = {}; // no elicitation: no input_required, approve/decline ids instead
    const source = 'text(await tools.everything__echo({ message: "from a command line" }))';
    const paused = await modernRequest(url, 1, 'tools/call', { name: 'exec', arguments: { source } }, bare);
    const first = paused.result?.structuredContent as Record<string, unknown> | undefined;
    assert.deepEqual([first?.status, first?.pending_tool_calls], ['interrupted', ['tool-1']], JSON.stringify(paused));
    // As `--tool-arg cell_id=1 approve=tool-1` sends them: a number, and one id as text.
    const args = { cell_id: Number(first?.cell_id), approve: 'tool-1' };
    const done = await modernRequest(url, 2, 'tools/call', { name: 'wait', arguments: args }, bare);
    const last = done.result?.structuredContent as Record<string, unknown> | undefined;
    assert.deepEqual([last?.status, last?.output], ['completed', 'Echo: from a command line'], JSON.stringify(done));
  });
});
