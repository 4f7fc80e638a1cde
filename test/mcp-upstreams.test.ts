// codecell mcp with real upstream servers from npm, configured as MCP clients configure them
// (issue 19): two at once, one needing an environment variable, and one that fails at start.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { waitFor } from './helpers.js';

const CLI = fileURLToPath(new URL('../../bin/codecell.js', import.meta.url));
const resolve = createRequire(import.meta.url).resolve;
const dir = mkdtempSync(join(tmpdir(), 'codecell-mcp-'));
const memoryFile = join(dir, 'memory.jsonl');
let client: Client;
let stderr = '';

type Result = { content: { type: string; text?: string }[]; isError?: boolean; structuredContent?: unknown };
const textsOf = (result: Result): string[] =>
  result.content.flatMap((block) => (block.type === 'text' ? [block.text ?? ''] : []));

before(async () => {
  const config = join(dir, 'mcp.json');
  writeFileSync(
    config,
    JSON.stringify({
      mcpServers: {
        everything: {
          command: process.execPath,
          args: [resolve('@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'],
        },
        mem: {
          command: process.execPath,
          args: [resolve('@modelcontextprotocol/server-memory/dist/index.js')],
          env: { MEMORY_FILE_PATH: memoryFile },
        },
        broken: {
          command: process.execPath,
          args: ['-e', 'console.error("FATAL: SOME_API_TOKEN is not set"); process.exit(1)'],
        },
      },
    }),
  );
  const transport = new StdioClientTransport({
    command: CLI,
    args: ['mcp', '--on-cancel', 'detach', '--config', config],
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  client = new Client({ name: 'codecell-test', version: '1.0.0' });
  await client.connect(transport);
});

after(async () => {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a failing upstream is named, with its own stderr, and the others serve under their config names', async () => {
  await waitFor(() => stderr.includes('upstream broken failed to start'));
  assert.match(stderr, /\[broken\] FATAL: SOME_API_TOKEN is not set/);
  const result = (await client.callTool({
    name: 'exec',
    arguments: {
      source:
        'await tools.mem__create_entities({ entities: [{ name: "codecell", entityType: "project", observations: ["x"] }] });\ntext(await tools.everything__echo({ message: "up" }))',
    },
  })) as Result;
  assert.deepEqual(textsOf(result), ['Echo: up', 'cell 1 completed']);
  assert.match(readFileSync(memoryFile, 'utf8'), /codecell/, 'the environment variable reached server-memory');
});

test('many tools: exec lists names, search_tools returns declarations; exec defaults to auto (TypeScript runs)', async () => {
  const { tools } = await client.listTools();
  assert.deepEqual(
    tools.map((tool) => tool.name),
    ['exec', 'wait', 'search_tools'],
  );
  const exec = tools[0];
  assert.ok((exec?.description ?? '').length < 6_000, `exec description is ${exec?.description?.length} characters`);
  assert.match(exec?.description ?? '', /tools\.mem__read_graph/);
  const found = (await client.callTool({ name: 'search_tools', arguments: { query: 'graph' } })) as Result;
  assert.match(textsOf(found)[0] ?? '', /mem__read_graph\(/);
  const typed = (await client.callTool({
    name: 'exec',
    arguments: { source: 'const n: number = 2; text(String(n * 21))' },
  })) as Result;
  assert.equal(textsOf(typed)[0], '42');
});

test('a missing tool names the close ones; wait on a finished cell says so', async () => {
  const missing = (await client.callTool({
    name: 'exec',
    arguments: { source: 'await tools.mem__read_grahp({})' },
  })) as Result;
  assert.equal(missing.isError, true);
  assert.match(
    textsOf(missing).join('\n'),
    /tools\.mem__read_grahp is not a function \(no such tool; closest: [^)]*tools\.mem__read_graph/,
  );
  const done = (await client.callTool({ name: 'exec', arguments: { source: 'text(1)' } })) as Result;
  const cellId = /cell (\S+) completed/.exec(textsOf(done).at(-1) ?? '')?.[1];
  const again = (await client.callTool({ name: 'wait', arguments: { cell_id: cellId } })) as Result;
  assert.equal(again.isError, true);
  assert.match(textsOf(again)[0] ?? '', /already returned/);
});

test('a cell that fails says which of its calls took effect; one that completes says nothing of them', async () => {
  const exec = async (source: string) => (await client.callTool({ name: 'exec', arguments: { source } })) as Result;
  const failed = await exec(
    'await tools.everything__echo({ message: "a" });\n' +
      'try { await tools.everything__get_sum({ a: "x", b: 1 }) } catch {}\n' +
      'await tools.mem__read_graph({});\nthrow new Error("boom")',
  );
  const made = ['tools.everything__echo (tool-1)', 'tools.mem__read_graph (tool-3)'];
  assert.equal(failed.isError, true);
  assert.deepEqual((failed.structuredContent as { calls_made?: string[] }).calls_made, made);
  assert.ok((textsOf(failed).at(-1) ?? '').endsWith(`\nCalls that took effect: ${made.join(', ')}`));
  const none = await exec('throw new Error("early")');
  assert.deepEqual((none.structuredContent as { calls_made?: string[] }).calls_made, []);
  assert.doesNotMatch(textsOf(none).at(-1) ?? '', /took effect/);
  const completed = await exec('await tools.everything__echo({ message: "b" })');
  assert.equal((completed.structuredContent as { calls_made?: string[] }).calls_made, undefined);
});

test('with --on-cancel detach, a cancelled exec detaches: the cell runs on and the next wait gets all its output', async () => {
  const controller = new AbortController();
  const cancelled = client.callTool(
    {
      name: 'exec',
      arguments: {
        source: 'text("a"); await new Promise((r) => setTimeout(r, 400)); text("b")',
        yield_time_ms: 10_000,
      },
    },
    undefined,
    { signal: controller.signal },
  );
  setTimeout(() => controller.abort(), 100);
  await assert.rejects(cancelled);
  const next = (await client.callTool({ name: 'exec', arguments: { source: 'text("other")' } })) as Result;
  const cellId = String(Number(/cell (\S+) completed/.exec(textsOf(next).at(-1) ?? '')?.[1]) - 1);
  const rest = (await client.callTool({
    name: 'wait',
    arguments: { cell_id: cellId, yield_time_ms: 10_000 },
  })) as Result;
  assert.deepEqual(textsOf(rest), ['a\nb', `cell ${cellId} completed`]);
});
