// codecell mcp over Streamable HTTP (issue 29): the official MCP conformance suite against it,
// and the official SDK client driving it end to end (two upstream tools, progress, cancellation,
// waiting on a cell left running), with DNS-rebinding protection and a bearer token.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempFile, tempFolder } from './helpers.js';
import {
  connect,
  INITIALIZE,
  rawPost,
  startHttp,
  statusOf,
  textsOf,
  TWO_TOOLS_CELL,
  TWO_TOOLS_TEXT,
  type Result,
} from './mcp-http-helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const resolve = createRequire(import.meta.url).resolve;
const EVERYTHING = resolve('@modelcontextprotocol/server-everything/dist/index.js');
const CONFORMANCE = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const BASELINE = join(ROOT, 'test/conformance-baseline.yml');
const EVERYTHING_UPSTREAM = `${process.execPath} ${EVERYTHING} stdio`;

describe('codecell mcp --http', { timeout: 120_000 }, () => {
  test('the official conformance suite: every applicable server scenario passes (the rest are listed, with why, in the baseline)', async (t) => {
    const { url } = await startHttp(t, EVERYTHING_UPSTREAM);
    // The 2025-11-25 revision's scenarios (2026-07-28's: mcp-modern.test.ts).
    const args = ['server', '--url', url, '--spec-version', '2025-11-25', '--expected-failures', BASELINE];
    const run = spawnSync(process.execPath, [CONFORMANCE, ...args], {
      encoding: 'utf8',
      timeout: 110_000,
      cwd: tempFolder(t, 'codecell-conformance-'),
    });
    const summary = run.stdout.slice(run.stdout.indexOf('=== SUMMARY ==='));
    assert.equal(run.status, 0, `${summary}\n${run.stderr}`);
    for (const scenario of [
      'server-initialize',
      'server-session-lifecycle',
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
    const client = await connect(t, (await startHttp(t, EVERYTHING_UPSTREAM)).url);
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((tool) => tool.name).sort(), ['exec', 'wait']);

    const both = (await client.callTool({ name: 'exec', arguments: { source: TWO_TOOLS_CELL } })) as Result;
    assert.match(textsOf(both)[0] ?? '', TWO_TOOLS_TEXT);

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
    const { url } = await startHttp(t, EVERYTHING_UPSTREAM, { extra: ['--max-sessions', '1', '--idle-ms', '400'] });
    // A session with nothing open: no request, no stream.
    const opened = await rawPost(url, {}, INITIALIZE);
    opened.resume();
    const sessionId = opened.headers['mcp-session-id'] as string;
    assert.equal(opened.statusCode, 200);
    await assert.rejects(connect(t, url), /503|MCP sessions open/);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const listing = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.equal(await statusOf(rawPost(url, { 'Mcp-Session-Id': sessionId }, listing)), 404);
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
    const { url } = await startHttp(t, EVERYTHING_UPSTREAM, { extra: ['--token-file', file] });
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
    for (const headers of [{ Host: 'evil.example' }, { Origin: 'http://evil.example' }] as Record<string, string>[]) {
      const status = await statusOf(rawPost(url, { Authorization: 'Bearer mcp-secret', ...headers }, INITIALIZE));
      assert.equal(status, 403, JSON.stringify(headers));
    }
  });
});
