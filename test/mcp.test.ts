// codecell mcp over a real upstream MCP server (@modelcontextprotocol/server-everything), driven
// by the official MCP SDK client over stdio.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { splitCommand } from '../host/cli/mcp.js';

const CLI = fileURLToPath(new URL('../../bin/codecell.js', import.meta.url));
const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');
let client: Client;
let transport: StdioClientTransport;

type Result = { content: { type: string; text?: string }[]; isError?: boolean };
const textsOf = (result: Result): string[] =>
  result.content.flatMap((block) => (block.type === 'text' ? [block.text ?? ''] : []));

before(async () => {
  client = new Client({ name: 'codecell-test', version: '1.0.0' });
  transport = new StdioClientTransport({
    command: CLI,
    args: ['mcp', '--upstream', `${process.execPath} ${EVERYTHING} stdio`],
    stderr: 'ignore',
  });
  await client.connect(transport);
});

after(async () => {
  await client.close();
});

test('splitCommand keeps quoted arguments together', () => {
  assert.deepEqual(splitCommand('node "my server.js" --flag \'a b\''), ['node', 'my server.js', '--flag', 'a b']);
});

test('codecell mcp lists exec and wait, with the upstream tools declared in exec', async () => {
  const { tools } = await client.listTools();
  assert.deepEqual(
    tools.map((tool) => tool.name),
    ['exec', 'wait'],
  );
  const exec = tools[0];
  assert.match(exec?.description ?? '', /everything__echo\(/);
  assert.match(exec?.description ?? '', /everything__get_sum\(/);
  assert.deepEqual(exec?.inputSchema.required, ['source']);
});

test('exec runs a cell that calls two upstream tools in parallel and combines their results', async () => {
  const result = (await client.callTool({
    name: 'exec',
    arguments: {
      source:
        'const [echo, sum] = await Promise.all([tools.everything__echo({ message: "hi" }), tools.everything__get_sum({ a: 2, b: 3 })]);\ntext(`${echo} | ${sum}`)',
    },
  })) as Result;
  assert.notEqual(result.isError, true);
  const [combined, status] = textsOf(result);
  assert.match(combined ?? '', /hi.*\|.*5/);
  assert.match(status ?? '', /cell \S+ completed/);
});

test('a long cell returns at yield_time_ms, and wait collects the rest', async () => {
  const first = (await client.callTool({
    name: 'exec',
    arguments: {
      source: 'text("started"); await new Promise((r) => setTimeout(r, 800)); text("finished")',
      yield_time_ms: 100,
    },
  })) as Result;
  const [started, status] = textsOf(first);
  assert.equal(started, 'started');
  const cellId = /cell_id "([^"]+)"/.exec(status ?? '')?.[1];
  assert.ok(cellId !== undefined, status);
  const rest = (await client.callTool({
    name: 'wait',
    arguments: { cell_id: cellId, yield_time_ms: 10_000 },
  })) as Result;
  assert.deepEqual(textsOf(rest), ['finished', `cell ${cellId} completed`]);
});

test('wait with terminate stops a running cell', async () => {
  const first = (await client.callTool({
    name: 'exec',
    arguments: { source: 'while (true) {}', yield_time_ms: 50 },
  })) as Result;
  const cellId = /cell_id "([^"]+)"/.exec(textsOf(first).at(-1) ?? '')?.[1];
  const stopped = (await client.callTool({ name: 'wait', arguments: { cell_id: cellId, terminate: true } })) as Result;
  assert.deepEqual(textsOf(stopped), [`cell ${cellId} was terminated (requested)`]);
});

test('a failing cell and an unknown cell are reported as tool errors', async () => {
  const failed = (await client.callTool({
    name: 'exec',
    arguments: { source: 'await tools.everything__get_sum({ a: "x" })' },
  })) as Result;
  assert.equal(failed.isError, true);
  const missing = (await client.callTool({ name: 'wait', arguments: { cell_id: 'nope' } })) as Result;
  assert.equal(missing.isError, true);
  assert.match(textsOf(missing)[0] ?? '', /unknown cell nope/);
});

test('cells run in a codecell-host process: when it dies, the MCP server goes on and the next exec runs on a fresh host', async () => {
  const hostOf = (parent: number): number[] =>
    execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(parent)], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes('bin/codecell-host.js'))
      .map((line) => Number(line.trim().split(/\s+/)[0]));
  const [host] = hostOf(transport.pid ?? 0);
  assert.ok(host !== undefined, 'codecell mcp runs a codecell-host child');
  process.kill(host, 'SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 300));
  const result = (await client.callTool({
    name: 'exec',
    arguments: { source: 'text(await tools.everything__get_sum({ a: 1, b: 1 }))' },
  })) as Result;
  assert.notEqual(result.isError, true, textsOf(result).join('\n'));
  assert.match(textsOf(result)[0] ?? '', /2/);
  assert.equal(hostOf(transport.pid ?? 0).length, 1, 'one fresh host');
});

test(
  'codecell mcp serves strangers with finite cell time: spinning cells end by timeLimit, a few at a time, and the next exec runs',
  { timeout: 60_000 },
  async (t) => {
    const limited = new Client({ name: 'codecell-test-limits', version: '1.0.0' });
    await limited.connect(
      new StdioClientTransport({
        command: CLI,
        args: ['mcp', '--cpu-time-ms', '300', '--upstream', `${process.execPath} ${EVERYTHING} stdio`],
        stderr: 'ignore',
      }),
    );
    t.after(() => limited.close());
    const cellIds: string[] = [];
    for (let i = 0; i < 6; i++) {
      const first = (await limited.callTool({
        name: 'exec',
        arguments: { source: 'while (true) {}', yield_time_ms: 10 },
      })) as Result;
      cellIds.push(/cell_id "([^"]+)"/.exec(textsOf(first).at(-1) ?? '')?.[1] as string);
    }
    for (const cellId of cellIds) {
      const ended = (await limited.callTool({
        name: 'wait',
        arguments: { cell_id: cellId, yield_time_ms: 30_000 },
      })) as Result;
      assert.deepEqual(textsOf(ended), [
        `cell ${cellId} was terminated (timeLimit: it used its cpuTimeMs limit of 300 ms)`,
      ]);
    }
    const next = (await limited.callTool({ name: 'exec', arguments: { source: 'text("after")' } })) as Result;
    assert.equal(textsOf(next)[0], 'after');
  },
);

test('exec and wait answer with structuredContent by their outputSchema; an unknown argument is named', async () => {
  const { tools } = await client.listTools();
  for (const tool of tools)
    assert.deepEqual(
      tool.outputSchema?.required,
      ['cell_id', 'status', 'output', 'images', 'error', 'pending_tool_calls', 'result'],
      tool.name,
    );
  // The SDK client checks structuredContent against the outputSchema it listed.
  const result = (await client.callTool({ name: 'exec', arguments: { source: 'text("a"); text("b")' } })) as Result & {
    structuredContent?: { cell_id?: unknown };
  };
  const cellId = result.structuredContent?.cell_id;
  assert.equal(typeof cellId, 'string');
  assert.deepEqual(result.structuredContent, {
    cell_id: cellId,
    status: 'completed',
    output: 'a\nb',
    images: [],
    error: null,
    pending_tool_calls: [],
    result: null,
  });
  // A cell's top-level return: its value is the result, as JSON text (checked against the schema too).
  const returned = (await client.callTool({
    name: 'exec',
    arguments: { source: 'text("counted");\nreturn { n: 42, names: ["a", "b"] }' },
  })) as Result & { structuredContent?: { output?: unknown; result?: unknown } };
  assert.deepEqual(
    [returned.structuredContent?.output, returned.structuredContent?.result],
    ['counted\n{"n":42,"names":["a","b"]}', '{"n":42,"names":["a","b"]}'],
  );
  const misspelt = (await client.callTool({ name: 'exec', arguments: { source: 'text(1)', yield_ms: 5 } })) as Result;
  assert.equal(misspelt.isError, true);
  assert.deepEqual(textsOf(misspelt), ['exec: unknown argument "yield_ms" (it takes source, language, yield_time_ms)']);
  const waited = (await client.callTool({ name: 'wait', arguments: { cell_id: '1', timeout: 5, extra: 1 } })) as Result;
  assert.deepEqual(textsOf(waited), [
    'wait: unknown arguments "timeout", "extra" (it takes cell_id, yield_time_ms, terminate)',
  ]);
});
