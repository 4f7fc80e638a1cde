// SessionBuilder (issue 18): tool sources of its own and real MCP servers from npm (two at once,
// stdio and Streamable HTTP), input checked against each tool's schema, name clashes refused at
// build time, the MCP servers closed with the session — in-process and on codecell-host alike.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { SessionBuilder, type BuiltSession } from '../host/index.js';
import type { CellEvent, NestedToolCall } from '../src/index.js';
import { capturingLogger, texts, waitFor } from './helpers.js';
import { builderKinds } from './sessions.js';

const resolve = createRequire(import.meta.url).resolve;
const EVERYTHING = resolve('@modelcontextprotocol/server-everything/dist/index.js');
const MEMORY = resolve('@modelcontextprotocol/server-memory/dist/index.js');

const kinds = builderKinds;

async function started(t: TestContext, builder: SessionBuilder): Promise<BuiltSession> {
  const session = await builder.start();
  t.after(() => session.shutdown());
  return session;
}

async function run(session: BuiltSession, source: string): Promise<CellEvent> {
  return (await session.execute({ source })).initialEvent;
}

/** Processes whose command line contains `marker` (Linux /proc). */
function processesWith(marker: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

for (const kind of kinds) {
  describe(`SessionBuilder ${kind.name}`, () => {
    test('two real MCP servers at once (one configured by an environment variable), beside tools of its own; closed with the session', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'codecell-memory-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const memoryFile = join(dir, 'graph.jsonl');
      const marker = `codecell-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
      const calls: NestedToolCall[] = [];
      const builder = new SessionBuilder(await kind.options(t))
        .withMcpServer({ name: 'everything', command: process.execPath, args: [EVERYTHING, 'stdio'], stderr: 'ignore' })
        .withMcpServer({
          name: 'memory',
          command: process.execPath,
          args: [MEMORY, marker],
          env: { MEMORY_FILE_PATH: memoryFile },
          stderr: 'ignore',
        })
        .withTools(
          [
            {
              name: 'add',
              inputSchema: {
                type: 'object',
                properties: { a: { type: 'number' }, b: { type: 'number' } },
                required: ['a', 'b'],
              },
            },
          ],
          {
            invokeTool: async (call) => {
              calls.push(call);
              const { a, b } = call.input as { a: number; b: number };
              return a + b;
            },
          },
        );
      const session = await started(t, builder);
      assert.ok(session.tools.some((tool) => tool.namespace === 'everything' && tool.name === 'echo'));
      assert.ok(session.tools.some((tool) => tool.namespace === 'memory' && tool.name === 'create_entities'));
      const event = await run(
        session,
        `
        const [echo, sum, own] = await Promise.all([
          tools.everything__echo({ message: "hi" }),
          tools.everything__get_sum({ a: 2, b: 3 }),
          tools.add({ a: 4, b: 5 }),
        ]);
        await tools.memory__create_entities({ entities: [{ name: "codecell", entityType: "project", observations: ["runs cells"] }] });
        const graph = await tools.memory__read_graph({});
        text(echo); text(sum); text(String(own)); text(JSON.stringify(graph.entities.map((e) => e.name)));`,
      );
      assert.equal(event.kind, 'completed', JSON.stringify(event));
      assert.deepEqual(texts(event), ['Echo: hi', 'The sum of 2 and 3 is 5.', '9', '["codecell"]']);
      assert.equal(calls.length, 1);
      assert.ok(
        existsSync(memoryFile) && readFileSync(memoryFile, 'utf8').includes('codecell'),
        'server-memory used MEMORY_FILE_PATH',
      );
      assert.equal(processesWith(marker).length, 1, 'the memory server runs');
      await session.shutdown();
      await waitFor(() => processesWith(marker).length === 0, 10_000);
    });

    test('tool input is checked against the inputSchema before the call leaves: a TypeError naming the field; opt-out per tool', async (t) => {
      const calls: NestedToolCall[] = [];
      const delegate = { invokeTool: async (call: NestedToolCall) => (calls.push(call), 'ok') };
      const schema = {
        type: 'object',
        properties: { user: { type: 'object', properties: { age: { type: 'integer' } }, required: ['age'] } },
        required: ['user'],
      };
      const session = await started(
        t,
        new SessionBuilder(await kind.options(t)).withTools(
          [
            { name: 'strict', inputSchema: schema },
            { name: 'loose', inputSchema: schema, validateInput: false },
          ],
          delegate,
        ),
      );
      const event = await run(
        session,
        `
        for (const input of [{ user: { age: "ten" } }, {}, { user: {} }]) {
          try { await tools.strict(input) } catch (e) { text(e.constructor.name + ": " + e.message) }
        }
        text(await tools.loose({ user: { age: "ten" } }));`,
      );
      assert.deepEqual(texts(event), [
        'TypeError: tools.strict: input.user.age must be integer',
        'TypeError: tools.strict: input.user is required',
        'TypeError: tools.strict: input.user.age is required',
        'ok',
      ]);
      assert.deepEqual(
        calls.map((call) => call.tool.name),
        ['loose'],
        'no refused call reached its source',
      );
    });

    test('a tool name clash is an error at build time, and nothing is left running', async (t) => {
      const marker = `codecell-clash-${process.pid}-${Math.random().toString(36).slice(2)}`;
      const builder = new SessionBuilder(await kind.options(t))
        .withMcpServer({
          name: 'everything',
          command: process.execPath,
          args: [EVERYTHING, 'stdio', marker],
          stderr: 'ignore',
        })
        .withTools([{ name: 'echo', namespace: 'everything' }], { invokeTool: async () => null });
      await assert.rejects(
        builder.start(),
        (error: Error & { code?: string }) =>
          error.code === 'ERR_INVALID_REQUEST' && /tools\.everything__echo comes from/.test(error.message),
      );
      await waitFor(() => processesWith(marker).length === 0, 10_000);
      assert.throws(() => new SessionBuilder().withMcpServer({ name: 'bad name', command: 'x' }), {
        code: 'ERR_INVALID_REQUEST',
      });
      assert.throws(
        () =>
          new SessionBuilder().withMcpServer({ name: 'a', command: 'x' }).withMcpServer({ name: 'a', command: 'y' }),
        { code: 'ERR_INVALID_REQUEST' },
      );
    });

    test('an MCP server that cannot start is named in the error; withLimits and withSetup apply', async (t) => {
      const failing = new SessionBuilder(await kind.options(t)).withMcpServer({
        name: 'broken',
        command: process.execPath,
        args: ['-e', 'process.exit(3)'],
        stderr: 'ignore',
      });
      await assert.rejects(failing.start(), /MCP server broken could not be started/);
      const session = await started(
        t,
        new SessionBuilder(await kind.options(t))
          .withLimits({ maxOutputBytes: 4_096 })
          .withSetup('notify("ready"); text("set up")'),
      );
      assert.equal(session.setupEvent?.kind, 'completed');
      const event = await run(session, 'text("x".repeat(10000))');
      assert.equal(event.kind, 'terminated', 'maxOutputBytes from withLimits');
      await assert.rejects(
        new SessionBuilder(await kind.options(t)).start({ signal: AbortSignal.abort(new Error('gave up')) }),
        /gave up/,
      );
    });
  });
}

test('an MCP server over Streamable HTTP', async (t) => {
  const port = await freePort();
  const server = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.after(() => server.kill());
  await new Promise<void>((ready, failed) => {
    server.stderr.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && ready());
    server.once('exit', (code) => failed(new Error(`server-everything exited (${code})`)));
  });
  const session = await started(
    t,
    new SessionBuilder({ logger: capturingLogger() }).withMcpServer({
      name: 'web',
      url: `http://127.0.0.1:${port}/mcp`,
    }),
  );
  const event = await run(session, 'text(await tools.web__echo({ message: "over http" }))');
  assert.deepEqual(texts(event), ['Echo: over http']);
});

test('the README builder example (examples/builder.mjs) runs as printed', async () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const example = readFileSync(new URL('../../examples/builder.mjs', import.meta.url), 'utf8');
  assert.ok(readme.includes(example), 'the README shows examples/builder.mjs as it is');
  const child = spawn(process.execPath, ['--no-node-snapshot', 'examples/builder.mjs'], {
    cwd: new URL('../..', import.meta.url),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  assert.equal(code, 0);
  const printed = /prints\n\n```\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('examples/builder.mjs')))?.[1];
  assert.equal(stdout, printed);
});

test('an MCP server checks its tools input by default; validateInput decides per tool', async (t) => {
  const session = await started(
    t,
    new SessionBuilder({ logger: capturingLogger() }).withMcpServer({
      name: 'everything',
      command: process.execPath,
      args: [EVERYTHING, 'stdio'],
      stderr: 'ignore',
      validateInput: (tool) => tool !== 'get-sum', // the server's own name for tools.everything__get_sum
    }),
  );
  const event = await run(
    session,
    `
    for (const call of [() => tools.everything__echo({ message: 7 }), () => tools.everything__get_sum({ a: "x", b: 1 })]) {
      try { await call() } catch (e) { text(e.name) }
    }`,
  );
  // echo is refused here; get_sum goes to the server, which refuses it itself.
  assert.deepEqual(texts(event), ['TypeError', 'Error']);
});
