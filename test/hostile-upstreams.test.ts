// An upstream MCP server can never crash, freeze or subvert codecell (issue 50): what it sends is
// left out with a warning naming it, bounded in time and size, and every other upstream and tool
// keeps working — through SessionBuilder and through `codecell mcp` over stdio and HTTP.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { SessionBuilder, type BuiltSession } from '../host/index.js';
import { createCodeModeTools, renderToolDeclarations, type ToolDefinition } from '../src/index.js';
import { capturingLogger, tempFile } from './helpers.js';
import { CLI, connect, INITIALIZE, startHttp, textsOf, type Result } from './mcp-http-helpers.js';

/** The texts of an exec of `source` (its status line last, left out). */
const texts = async (client: Client, source: string): Promise<string[]> =>
  textsOf((await client.callTool({ name: 'exec', arguments: { source } })) as Result).slice(0, -1);

const HOSTILE = fileURLToPath(new URL('./fixtures/hostile-upstream.js', import.meta.url));
const upstream = (mode: string) => ({
  name: mode.replace(/-/g, '_'),
  command: process.execPath,
  args: [HOSTILE],
  env: { HOSTILE: mode },
  stderr: 'ignore' as const,
});

async function built(t: TestContext, modes: string[]) {
  const logger = capturingLogger();
  let builder = new SessionBuilder({ logger });
  for (const mode of modes) builder = builder.withMcpServer(upstream(mode));
  const session: BuiltSession = await builder.start();
  t.after(() => session.shutdown());
  return { session, warnings: logger.warnings };
}

const run = async (session: BuiltSession, source: string): Promise<string> => {
  const cell = await session.execute({ source });
  return (await cell.readText()).trim();
};

describe('hostile upstreams through SessionBuilder', { timeout: 60_000 }, () => {
  test('a failing tools/list, an unusable name and two names of one identifier leave those out, with why', async (t) => {
    const { session, warnings } = await built(t, ['list-error', 'names', 'honest']);
    const ids = session.tools.map((tool) => `${tool.namespace}__${tool.name}`).sort();
    assert.deepEqual(ids, ['honest__ok', 'names__a-b', 'names__ok']);
    assert.ok(
      warnings.some((line) => /list_error is left out: its tools\/list failed: .*broken on purpose/.test(line)),
    );
    assert.ok(warnings.some((line) => /a tool named "" is left out/.test(line)));
    assert.ok(warnings.some((line) => /tool "a_b" is left out: it would be tools\.names__a_b, as "a-b" is/.test(line)));
    assert.equal(await run(session, 'text(1 + 1)'), '2');
    assert.equal(await run(session, 'text(await tools.names__ok())'), 'ok answered');
  });

  test('an outputSchema the SDK cannot compile checks nothing (with a warning); the tool still answers', async (t) => {
    const { session, warnings } = await built(t, ['bad-output-schema']);
    assert.ok(
      warnings.some((line) => /an outputSchema of bad_output_schema is not checked/.test(line)),
      warnings.join('\n'),
    );
    assert.equal(await run(session, 'text(await tools.bad_output_schema__ok())'), 'ok answered');
  });

  test("a backtracking pattern in an upstream's outputSchema runs in linear time, never freezing the process", async (t) => {
    const { session } = await built(t, ['redos']);
    // ^(a+)+$ against 40 a's and a '!' took the SDK's RegExp ~minutes; RE2 answers at once.
    const printed = await run(
      session,
      'try { text(JSON.stringify(await tools.redos__slow())) } catch (e) { text("refused: " + e.message) }',
    );
    assert.match(printed, /^refused: .*must match pattern/);
  });

  test('a tools/list that paginates forever is cut, with a warning, and the session starts', async (t) => {
    const { session, warnings } = await built(t, ['paginate']);
    assert.equal(session.tools.length, 100);
    assert.ok(warnings.some((line) => /tools past 100 \(100 pages\) are left out/.test(line)));
  });
});

describe('hostile schemas, bounded', () => {
  test('a $ref fan-out schema renders in bounded time and size', () => {
    // Each definition names the next six times, twelve deep: 6^12 paths if expanded.
    const $defs: Record<string, unknown> = {};
    for (let level = 0; level < 12; level++) {
      const properties: Record<string, unknown> = {};
      for (let branch = 0; branch < 6; branch++) properties[`p${branch}`] = { $ref: `#/$defs/d${level + 1}` };
      $defs[`d${level}`] = { type: 'object', properties };
    }
    $defs.d12 = { type: 'string' };
    const declarations = renderToolDeclarations([{ name: 'fan', inputSchema: { $ref: '#/$defs/d0', $defs } as never }]);
    assert.match(declarations, /fan\(input/);
    assert.ok(declarations.length < 2_000_000, `${declarations.length} characters`);
  });

  test('a pattern against a huge input is refused with a clear message instead of holding the loop', async (t) => {
    const logger = capturingLogger();
    const pattern = '^([a-z0-9]+[-_.]?)+@([a-z0-9]+[-.]?)+\\.[a-z]{2,}$';
    const session = await new SessionBuilder({ logger })
      .withTools([{ name: 'mail', inputSchema: { type: 'object', properties: { to: { type: 'string', pattern } } } }], {
        invokeTool: async () => 'sent',
      })
      .start();
    t.after(() => session.shutdown());
    const printed = await run(
      session,
      'try { await tools.mail({ to: "a".repeat(200_000) }) } catch (e) { text(e.name + ": " + e.message) }',
    );
    assert.match(
      printed,
      /^TypeError: tools\.mail: a string of 200000 characters is too long to check against the pattern/,
    );
    assert.equal(await run(session, 'text(await tools.mail({ to: "x@example.com" }))'), 'sent');
  });

  test("20 000 upstream tools: exec's description names a few and points at search_tools", () => {
    const tools: ToolDefinition[] = Array.from({ length: 20_000 }, (_, i) => ({ name: `tool${i}`, namespace: 'big' }));
    const { exec, search } = createCodeModeTools({ execute: async () => ({}) as never, isAlive: true } as never, {
      tools,
      maxDeclarationChars: 8_000,
    });
    assert.ok(search !== undefined);
    assert.ok(exec.description.length < 20_000, `${exec.description.length} characters`);
    assert.match(exec.description, /and 19800 more \(search_tools finds them\)/);
  });
});

describe('codecell mcp with hostile upstreams', { timeout: 120_000 }, () => {
  test('stdio: a failing tools/list, bad names and an uncompilable outputSchema never stop it; exec works', async (t) => {
    const client = new Client({ name: 'test', version: '1.0.0' });
    const config = tempFile(
      t,
      'codecell-hostile-',
      JSON.stringify({
        mcpServers: Object.fromEntries(
          ['list-error', 'names', 'bad-output-schema'].map((mode) => [
            mode.replace(/-/g, '_'),
            { command: process.execPath, args: [HOSTILE], env: { HOSTILE: mode } },
          ]),
        ),
      }),
    );
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: ['--no-node-snapshot', CLI, 'mcp', '--config', config],
        stderr: 'ignore',
      }),
    );
    t.after(() => client.close());
    const result = (await client.callTool({ name: 'exec', arguments: { source: 'text(1 + 1)' } })) as {
      content: { text?: string }[];
    };
    assert.equal(result.content[0]?.text, '2');
    const listed = (await client.callTool({
      name: 'exec',
      arguments: { source: 'text(ALL_TOOLS.map((t) => t.name).join(" "))' },
    })) as {
      content: { text?: string }[];
    };
    assert.equal(listed.content[0]?.text, 'names__a_b names__ok bad_output_schema__broken bad_output_schema__ok');
  });

  test('stdio: initialize waits --startup-ms at most; a late upstream joins the open session', async (t) => {
    const client = new Client({ name: 'test', version: '1.0.0' });
    const changed = Promise.withResolvers<void>();
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => changed.resolve());
    const config = tempFile(
      t,
      'codecell-late-',
      JSON.stringify({
        mcpServers: {
          honest: { command: process.execPath, args: [HOSTILE] },
          late: { command: process.execPath, args: [HOSTILE], env: { HOSTILE: 'late', HOSTILE_DELAY_MS: '4000' } },
          silent: { command: process.execPath, args: [HOSTILE], env: { HOSTILE: 'silent' } },
        },
      }),
    );
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: ['--no-node-snapshot', CLI, 'mcp', '--config', config, '--startup-ms', '300'],
        stderr: 'ignore',
      }),
    );
    t.after(() => client.close());
    const execOf = async () => (await client.listTools()).tools.find((tool) => tool.name === 'exec')?.description;
    assert.match((await execOf()) ?? '', /honest__ok/);
    assert.doesNotMatch((await execOf()) ?? '', /late__ok/);
    assert.deepEqual(await texts(client, 'text(await tools.honest__ok())'), ['ok answered']);
    // Before it joins, a call of its tool fails saying it is still starting.
    const early = (await client.callTool({ name: 'exec', arguments: { source: 'await tools.late__ok()' } })) as Result;
    assert.equal(early.isError, true);
    assert.match(
      textsOf(early).at(-1) ?? '',
      /tools\.late__ok is not a function \(no such tool; [^\n]*\); upstream late, silent still starting: its tools join when it answers, try again then\n/,
    );
    await changed.promise;
    assert.match((await execOf()) ?? '', /late__ok/);
    // The codecell session started before the late upstream joined; its next cell has the new tool.
    assert.deepEqual(await texts(client, 'text(await tools.late__ok())'), ['ok answered']);
  });

  test('stdio: a log flood to a client that reads slowly is dropped and reported, never queued', async (t) => {
    const flood = `flood=${process.execPath} ${HOSTILE}`;
    const child = spawn(process.execPath, ['--no-node-snapshot', CLI, 'mcp', '--upstream', flood], {
      env: { ...process.env, HOSTILE: 'flood' },
    });
    t.after(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const send = (message: object): boolean => child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`);
    send(JSON.parse(INITIALIZE) as object);
    send({ method: 'notifications/initialized' });
    send({
      id: 2,
      method: 'tools/call',
      params: { name: 'exec', arguments: { source: 'text(await tools.flood__ok())' } },
    });
    // A client that reads nothing while the upstream sends its 5 000 log messages (10 MB)...
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    // ...then reads everything, up to exec's answer.
    // (On a loaded machine the upstream may still be sending after the first report: the client
    // may fall behind more than once, each time told how many it lost.)
    const lines = createInterface({ input: child.stdout });
    let [logs, dropped, reports] = [0, 0, 0];
    let answer: Result | undefined;
    for await (const line of lines) {
      const message = JSON.parse(line) as { id?: number; method?: string; params?: { data?: string }; result?: Result };
      if (message.id === 2) answer = message.result;
      if (message.method === 'notifications/message') {
        const data = String(message.params?.data);
        const report = /^(\d+) log message\(s\) of flood dropped: the client read slower/.exec(data);
        if (report === null) logs++;
        else [dropped, reports] = [dropped + Number(report[1]), reports + 1];
      }
      // (The answer may come last: on a loaded machine it often does.)
      if (answer !== undefined && reports > 0 && logs + dropped === 5_000) break;
    }
    assert.deepEqual(textsOf(answer as Result).slice(0, -1), ['ok answered']);
    assert.ok(dropped > 0, `${dropped} dropped`);
    assert.equal(logs + dropped, 5_000);
    // codecell's own stderr (the upstream's lines are forwarded, prefixed [flood]).
    const own = stderr.split('\n').filter((line) => !line.startsWith('[flood]'));
    assert.doesNotMatch(own.join('\n'), /MaxListenersExceeded/);
  });

  test('http: hostile upstreams never stop it; exec works and a backtracking pattern answers at once', async (t) => {
    const modes = ['list-error', 'names', 'bad-output-schema', 'redos', 'paginate', 'silent'];
    const config = tempFile(
      t,
      'codecell-hostile-http-',
      JSON.stringify({
        mcpServers: Object.fromEntries(
          modes.map((mode) => [
            mode.replace(/-/g, '_'),
            { command: process.execPath, args: [HOSTILE], env: { HOSTILE: mode } },
          ]),
        ),
      }),
    );
    const { url, stderr } = await startHttp(t, `honest=${process.execPath} ${HOSTILE}`, {
      extra: ['--config', config, '--startup-ms', '2000'],
    });
    const client = await connect(t, url);
    const names = 'text(ALL_TOOLS.filter((t) => !t.name.startsWith("paginate")).map((t) => t.name).join(" "))';
    assert.deepEqual(await texts(client, names), [
      'names__a_b names__ok bad_output_schema__broken bad_output_schema__ok redos__slow honest__ok',
    ]);
    const pages = 'text(ALL_TOOLS.filter((t) => t.name.startsWith("paginate")).length)';
    assert.deepEqual(await texts(client, pages), ['100']);
    const refused = await texts(
      client,
      'try { await tools.redos__slow() } catch (e) { text("refused: " + e.message) }',
    );
    assert.match(refused[0] ?? '', /^refused: .*must match pattern/);
    assert.match(stderr(), /list_error is left out: its tools\/list failed/);
  });

  test('a config whose server is null is one line, exit 2; a busy port is one line, exit 1; no stack trace', async (t) => {
    const config = tempFile(t, 'codecell-config-', JSON.stringify({ mcpServers: { a: null } }));
    const bad = spawnSync(process.execPath, ['--no-node-snapshot', CLI, 'mcp', '--config', config], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, /server a must be an object with a "command" or a "url", got null/);

    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    t.after(() => busy.close());
    const port = (busy.address() as { port: number }).port;
    const honest = `honest=${process.execPath} ${HOSTILE}`;
    const taken = spawnSync(
      process.execPath,
      ['--no-node-snapshot', CLI, 'mcp', '--http', `127.0.0.1:${port}`, '--upstream', honest],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(taken.status, 1, taken.stderr);
    assert.match(taken.stderr, /^codecell mcp: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/m);
    assert.doesNotMatch(taken.stderr, /\n\s+at /);
  });
});
