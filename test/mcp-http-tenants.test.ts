// codecell mcp --http as a multi-tenant service (hardening v4): DNS-rebinding protection on every
// bind address without a token, no token beyond loopback refused, a cancelled exec's response
// ended, progress that never changes a cell's outcome, upstream logs never heard by another
// tenant, --max-sessions held under concurrent initializes, and closing never starting a session.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { newMcpSession } from '../host/cli/mcp-server.js';
import { SessionRuntime } from '../src/index.js';
import { CLI, connect, INITIALIZE, rawPost, startHttp, statusOf, textsOf, type Result } from './mcp-http-helpers.js';

const UPSTREAM = fileURLToPath(new URL('./fixtures/logging-upstream.js', import.meta.url));
const RECORDS = `records=${process.execPath} ${UPSTREAM}`;

describe('codecell mcp --http: tenants', { timeout: 120_000 }, () => {
  test('bound on another loopback address without a token, a foreign Host or Origin is refused; its own address is served', async (t) => {
    const { url } = await startHttp(t, RECORDS, { address: '127.0.0.2:0' });
    const port = new URL(url).port;
    assert.equal(await statusOf(rawPost(url, { Host: 'attacker.example' }, INITIALIZE)), 403);
    assert.equal(await statusOf(rawPost(url, { Host: `attacker.example:${port}` }, INITIALIZE)), 403);
    assert.equal(await statusOf(rawPost(url, { Origin: 'http://attacker.example' }, INITIALIZE)), 403);
    assert.equal(await statusOf(rawPost(url, { Host: `127.0.0.2:${port}` }, INITIALIZE)), 200);
  });

  test('binding beyond loopback without a token is refused with one line, exit 2', () => {
    const run = spawnSync(
      process.execPath,
      ['--no-node-snapshot', CLI, 'mcp', '--http', '0.0.0.0:0', '--upstream', `${process.execPath} ${UPSTREAM}`],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(run.status, 2);
    assert.match(
      run.stderr.split('\n')[0] ?? '',
      /^codecell mcp: --http 0\.0\.0\.0:0 is beyond loopback: give --token-file/,
    );
  });

  test("a cancelled exec's HTTP response ends, and a wait on its cell answers with the terminated outcome", async (t) => {
    const { url } = await startHttp(t, RECORDS);
    const opened = await rawPost(url, {}, INITIALIZE);
    opened.resume();
    const sessionId = opened.headers['mcp-session-id'] as string;
    const session = { 'Mcp-Session-Id': sessionId, 'Mcp-Protocol-Version': '2025-11-25' };
    await statusOf(rawPost(url, session, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })));
    const exec = await rawPost(
      url,
      session,
      JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'exec', arguments: { source: 'await new Promise(() => {})', yield_time_ms: 60_000 } },
      }),
    );
    const ended = new Promise<void>((resolve) => {
      exec.resume();
      exec.once('close', resolve);
    });
    const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7, reason: 'user' } };
    await statusOf(rawPost(url, session, JSON.stringify(cancel)));
    await ended; // before the fix it stayed open until the session was deleted
  });

  test("asking for progress never changes a cell's outcome: a cell of 200 000 outputs completes", async (t) => {
    const { url } = await startHttp(t, RECORDS);
    const client = await connect(t, url);
    const progress: string[] = [];
    const result = (await client.callTool(
      { name: 'exec', arguments: { source: 'for (let i = 0; i < 200_000; i++) text(i % 10)', yield_time_ms: 60_000 } },
      undefined,
      { onprogress: (update) => progress.push(update.message ?? ''), timeout: 60_000 },
    )) as Result;
    const status = textsOf(result).at(-1) ?? '';
    assert.match(status, /^cell \S+ completed/, status);
    assert.equal((textsOf(result)[0] ?? '').split('\n').length, 200_000);
    // What progress could not keep up with is said, not silently lost.
    const forwarded = progress.filter((message) => /^\d$/.test(message)).length;
    const dropped = progress
      .map((message) => Number(/^\[(\d+) progress message\(s\) dropped/.exec(message)?.[1] ?? 0))
      .reduce((sum, count) => sum + count, 0);
    assert.equal(forwarded + dropped, 200_000);
  });

  test("an upstream's log lines never reach another tenant (over HTTP they go to stderr)", async (t) => {
    const { url, stderr } = await startHttp(t, RECORDS);
    const [a, b] = [await connect(t, url), await connect(t, url)];
    const heard: string[] = [];
    for (const client of [a, b]) {
      await client.setLoggingLevel('debug');
      client.setNotificationHandler(LoggingMessageNotificationSchema, ({ params }) => {
        heard.push(String(params.data));
      });
    }
    const result = (await a.callTool({
      name: 'exec',
      arguments: { source: 'text(await tools.records__lookup({ who: "alice" }))' },
    })) as Result;
    assert.equal(textsOf(result)[0], 'record of alice');
    for (let i = 0; i < 100 && !stderr().includes('looking up alice'); i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.match(stderr(), /\[records\] info: looking up alice medical record 4711/);
    assert.deepEqual(heard, []);
  });

  test('--max-sessions holds when many initializes arrive at once, their bodies after their headers', async (t) => {
    const { url } = await startHttp(t, RECORDS, { extra: ['--max-sessions', '2'] });
    const late = new Promise<string>((resolve) => setTimeout(() => resolve(INITIALIZE), 300));
    const statuses = await Promise.all(Array.from({ length: 10 }, () => statusOf(rawPost(url, {}, late))));
    assert.deepEqual(
      statuses.sort((x, y) => x - y),
      [200, 200, 503, 503, 503, 503, 503, 503, 503, 503],
    );
  });

  test('closing an MCP session that never ran a cell starts no codecell session', async () => {
    let starts = 0;
    const session = newMcpSession({
      upstreams: { tools: [], onJoin: () => () => {} },
      onCancel: 'terminate',
      servers: new Set(),
      forwardLogs: false,
      startSession: async () => {
        starts += 1;
        return new SessionRuntime({ invokeTool: async () => null, notify: async () => {} });
      },
    });
    await session.close();
    assert.equal(starts, 0);
  });
});
