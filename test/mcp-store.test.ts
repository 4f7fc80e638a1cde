// codecell mcp --store (issue 83): the MCP server's session is kept in a store, so its cells and
// stored values outlive the process: the next codecell mcp with the same store recovers them —
// at once after a clean stop, once the dead one's lease ends after kill -9.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const CLI = fileURLToPath(new URL('../../bin/codecell.js', import.meta.url));
const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');

type Result = { content: { type: string; text?: string }[]; isError?: boolean };
const textsOf = (result: unknown): string[] =>
  (result as Result).content.flatMap((block) => (block.type === 'text' ? [block.text ?? ''] : []));

function folder(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'codecell-mcp-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A codecell mcp over stdio keeping its session in `store`, with an SDK client connected to it. */
async function serve(t: TestContext, store: string): Promise<{ client: Client; transport: StdioClientTransport }> {
  const client = new Client({ name: 'codecell-test-store', version: '1.0.0' });
  const transport = new StdioClientTransport({
    command: CLI,
    args: ['mcp', '--store', store, '--upstream', `${process.execPath} ${EVERYTHING} stdio`],
    stderr: 'ignore',
  });
  await client.connect(transport);
  t.after(() => client.close());
  return { client, transport };
}

/** Runs a cell that stores a value and one that is still running when its server goes: its id. */
async function leaveWork(client: Client): Promise<string> {
  const stored = await client.callTool({ name: 'exec', arguments: { source: "store('budget', 41); text('kept')" } });
  assert.deepEqual(textsOf(stored)[0], 'kept');
  const running = await client.callTool({
    name: 'exec',
    arguments: {
      source: "text('before'); await new Promise((r) => setTimeout(r, 1500)); text('after')",
      yield_time_ms: 200,
    },
  });
  assert.equal(textsOf(running)[0], 'before');
  const cellId = /cell_id "([^"]+)"/.exec(textsOf(running).at(-1) ?? '')?.[1];
  assert.ok(cellId !== undefined, textsOf(running).join('\n'));
  return cellId;
}

/** What the next server tells of the work left: the running cell ends, the value is there. */
async function findWork(client: Client, cellId: string): Promise<void> {
  const waited = await client.callTool({ name: 'wait', arguments: { cell_id: cellId, yield_time_ms: 30_000 } });
  const texts = textsOf(waited);
  assert.equal(texts.at(-1), `cell ${cellId} completed`, texts.join('\n'));
  // Its output is told from the cell's start: the new server cannot know what the old one returned.
  assert.equal(texts.at(-2), 'before\nafter', 'the cell left running ran to its end on the new server');
  const loaded = await client.callTool({ name: 'exec', arguments: { source: "text(load('budget') + 1)" } });
  assert.equal(textsOf(loaded)[0], '42', 'the stored value outlived the server');
  const next = /cell (\S+) completed/.exec(textsOf(loaded).at(-1) ?? '')?.[1];
  assert.ok(Number(next) > Number(cellId), `cell ids go on after the recovered ones (${next} after ${cellId})`);
}

test('codecell mcp --store sqlite: a clean stop leaves the session for the next start, which recovers it at once', async (t) => {
  const store = `sqlite:${join(folder(t), 'mcp.db')}`;
  const first = await serve(t, store);
  const cellId = await leaveWork(first.client);
  await first.client.close();
  const second = await serve(t, store);
  await findWork(second.client, cellId);
});

test('codecell mcp --store sqlite: after kill -9 the next start recovers the session once its lease ends', async (t) => {
  const store = `sqlite:${join(folder(t), 'mcp.db')}`;
  const first = await serve(t, store);
  const cellId = await leaveWork(first.client);
  process.kill(first.transport.pid ?? 0, 'SIGKILL');
  const second = await serve(t, store);
  await findWork(second.client, cellId);
});

/** codecell mcp's exit code and stderr for these arguments. */
function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, 'mcp', ...args], { timeout: 20_000 }, (error, _out, stderr) =>
      resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? null), stderr }),
    );
    child.stdin?.end();
  });
}

test('--store and --session-key refuse what they cannot keep, saying what they take', async () => {
  const upstream = ['--upstream', `${process.execPath} ${EVERYTHING} stdio`];
  const cases: [string[], string][] = [
    [['--store', 'redis://x'], 'codecell mcp: --store takes sqlite:<file> or postgres:<url>, got "redis://x"'],
    [['--store', 'sqlite:'], 'codecell mcp: --store takes sqlite:<file> or postgres:<url>, got "sqlite:"'],
    [
      ['--store', 'sqlite:/tmp/x.db', '--http', '127.0.0.1:0'],
      'codecell mcp: --store keeps the one session of codecell mcp over stdio; it does not go with --http',
    ],
    [['--session-key', 'k'], 'codecell mcp: --session-key needs --store'],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await run([...args, ...upstream]);
    assert.equal(code, 2, stderr);
    assert.equal(stderr, `${message} (codecell mcp --help for the usage)\n`);
  }
});
