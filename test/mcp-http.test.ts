// codecell mcp over Streamable HTTP (issue 29): the official MCP conformance suite against it,
// and the official SDK client driving it end to end (two upstream tools, progress, cancellation,
// waiting on a cell left running), with DNS-rebinding protection and a bearer token.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { tempFile, tempFolder } from './helpers.js';

const CLI = fileURLToPath(new URL('../../bin/codecell.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const resolve = createRequire(import.meta.url).resolve;
const EVERYTHING = resolve('@modelcontextprotocol/server-everything/dist/index.js');
const CONFORMANCE = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const BASELINE = join(ROOT, 'test/conformance-baseline.yml');

type Result = { content: { type: string; text?: string }[]; isError?: boolean };
const textsOf = (result: Result): string[] =>
  result.content.flatMap((block) => (block.type === 'text' ? [block.text ?? ''] : []));

/** Starts `codecell mcp --http 127.0.0.1:0` over server-everything; its URL once it listens. */
async function startHttp(t: TestContext, extra: string[] = []): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      '--no-node-snapshot',
      CLI,
      'mcp',
      '--http',
      '127.0.0.1:0',
      ...extra,
      '--upstream',
      `${process.execPath} ${EVERYTHING} stdio`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  return new Promise<string>((resolveUrl, reject) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      const match = /codecell mcp listening on (\S+)\n/.exec(stderr);
      if (match !== null) resolveUrl(match[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`codecell mcp exited ${code}: ${stderr}`)));
  });
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

/** One raw POST to the MCP endpoint: its status, headers and body. */
function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const target = new URL(url);
  return new Promise((done, fail) => {
    const sent = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => done({ status: response.statusCode ?? 0, headers: response.headers, text }));
      },
    );
    sent.on('error', fail);
    sent.end(JSON.stringify(body));
  });
}

async function connect(t: TestContext, url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'codecell-http-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  t.after(() => client.close());
  return client;
}

describe('codecell mcp --http', { timeout: 120_000 }, () => {
  test('the official conformance suite: every applicable server scenario passes (the rest are listed, with why, in the baseline)', async (t) => {
    const url = await startHttp(t);
    const run = spawnSync(process.execPath, [CONFORMANCE, 'server', '--url', url, '--expected-failures', BASELINE], {
      encoding: 'utf8',
      timeout: 110_000,
      cwd: tempFolder(t, 'codecell-conformance-'),
    });
    const summary = run.stdout.slice(run.stdout.indexOf('=== SUMMARY ==='));
    assert.equal(run.status, 0, `${summary}\n${run.stderr}`);
    for (const scenario of [
      'server-initialize',
      'ping',
      'logging-set-level',
      'tools-list',
      'tools-call-error',
      'dns-rebinding-protection',
    ]) {
      assert.match(summary, new RegExp(`✓ ${scenario}: \\d+ passed, 0 failed`), scenario);
    }
  });

  test('an MCP client over HTTP: tools, a cell calling two upstream tools, progress, cancellation, waiting on a running cell', async (t) => {
    const client = await connect(t, await startHttp(t));
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((tool) => tool.name).sort(), ['exec', 'wait']);

    const both = (await client.callTool({
      name: 'exec',
      arguments: {
        source:
          'const [s, e] = await Promise.all([tools.everything__get_sum({ a: 2, b: 3 }), tools.everything__echo({ message: "hi" })]); text(JSON.stringify(s) + " " + e)',
      },
    })) as Result;
    assert.match(textsOf(both)[0] ?? '', /5.* Echo: hi$/);

    const progress: string[] = [];
    const streamed = (await client.callTool(
      {
        name: 'exec',
        arguments: {
          source:
            'for (const step of ["one", "two", "three"]) { text(step); await new Promise((r) => setTimeout(r, 50)) } notify("done")',
        },
      },
      undefined,
      {
        onprogress: (update) => progress.push(update.message ?? ''),
      },
    )) as Result;
    assert.equal(textsOf(streamed)[0], 'one\ntwo\nthree');
    assert.deepEqual(progress, ['one', 'two', 'three', 'done']);

    // A cancelled exec terminates its cell (the default): nothing of it is left to wait on.
    const controller = new AbortController();
    const cancelled = client.callTool(
      { name: 'exec', arguments: { source: 'text("started"); await new Promise(() => {})', yield_time_ms: 30_000 } },
      undefined,
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(cancelled);
    const next = (await client.callTool({ name: 'exec', arguments: { source: 'text("next")' } })) as Result;
    const cancelledId = String(Number(/cell (\S+) completed/.exec(textsOf(next).at(-1) ?? '')?.[1]) - 1);
    // A wait on it answers with its terminated outcome (and the output the cancelled exec never got).
    const gone = (await client.callTool({ name: 'wait', arguments: { cell_id: cancelledId } })) as Result;
    assert.deepEqual(textsOf(gone), ['started', `cell ${cancelledId} was terminated (requested)`]);

    // A cell that outlives its exec's yield is waited on by its id.
    const first = (await client.callTool({
      name: 'exec',
      arguments: { source: 'text("a"); await new Promise((r) => setTimeout(r, 300)); text("b")', yield_time_ms: 50 },
    })) as Result;
    const cellId = /cell_id "([^"]+)"/.exec(textsOf(first).at(-1) ?? '')?.[1];
    assert.equal(textsOf(first)[0], 'a');
    const rest = (await client.callTool({
      name: 'wait',
      arguments: { cell_id: cellId, yield_time_ms: 10_000 },
    })) as Result;
    assert.deepEqual(textsOf(rest), ['b', `cell ${cellId} completed`]);
  });

  test('MCP sessions are bounded, and one idle past --idle-ms is closed; a call or stream open keeps it', async (t) => {
    const url = await startHttp(t, ['--max-sessions', '1', '--idle-ms', '400']);
    // A session with nothing open: no request, no stream.
    const opened = await post(url, INITIALIZE);
    const sessionId = opened.headers['mcp-session-id'] as string;
    assert.equal(opened.status, 200);
    await assert.rejects(connect(t, url), /503|MCP sessions open/);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const expired = await post(url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'Mcp-Session-Id': sessionId });
    assert.equal(expired.status, 404);
    // A client whose exec outlasts --idle-ms keeps its session: idle counts only with nothing open.
    const fresh = await connect(t, url);
    const slow = (await fresh.callTool({
      name: 'exec',
      arguments: { source: 'await new Promise((r) => setTimeout(r, 1_000)); text("again")' },
    })) as Result;
    assert.equal(textsOf(slow)[0], 'again');
    assert.equal(textsOf((await fresh.callTool({ name: 'exec', arguments: { source: 'text(2)' } })) as Result)[0], '2');
  });

  test('each MCP session is its own codecell session; a foreign Host or Origin is refused; a token is required when given', async (t) => {
    const file = tempFile(t, 'codecell-mcp-token-', 'mcp-secret\n');
    const url = await startHttp(t, ['--token-file', file]);
    await assert.rejects(connect(t, url), /401|bearer/i);
    const [a, b] = [
      await connect(t, url, { Authorization: 'Bearer mcp-secret' }),
      await connect(t, url, { Authorization: 'Bearer mcp-secret' }),
    ];
    const ran = (await a.callTool({ name: 'exec', arguments: { source: 'text("in a")' } })) as Result;
    const cellId = /cell (\S+) completed/.exec(textsOf(ran).at(-1) ?? '')?.[1];
    const other = (await b.callTool({ name: 'exec', arguments: { source: 'text("in b")' } })) as Result;
    assert.equal(
      /cell (\S+) completed/.exec(textsOf(other).at(-1) ?? '')?.[1],
      cellId,
      'cell ids start over: another codecell session',
    );
    for (const headers of [{ Host: 'evil.example' }, { Origin: 'http://evil.example' }]) {
      const status = await new Promise<number>((done, fail) => {
        const body = JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
        });
        const target = new URL(url);
        const sent = request(
          {
            host: target.hostname,
            port: target.port,
            path: target.pathname,
            method: 'POST',
            headers: {
              'Content-Type': 'application/json',
              Accept: 'application/json, text/event-stream',
              Authorization: 'Bearer mcp-secret',
              ...headers,
            },
          },
          (response) => {
            response.resume();
            done(response.statusCode ?? 0);
          },
        );
        sent.on('error', fail);
        sent.end(body);
      });
      assert.equal(status, 403, JSON.stringify(headers));
    }
  });
});
