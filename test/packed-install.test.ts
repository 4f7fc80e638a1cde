// Install from anywhere (issue 55): the tarball `npm pack` makes installs with one command in a
// fresh project of one's own, and there the README's quick start runs as printed and both bins
// work; the README's any-directory MCP client config serves an upstream started with npx (issue 65).
// npm fetches the dependencies (from its cache when it has them).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** Runs a command to its end (concurrently with the test's other commands); its stdout. */
function run(command: string, args: string[], cwd: string, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { cwd, encoding: 'utf8', timeout: 150_000 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')}: ${error.message}${stderr}`));
    });
    child.stdin?.end(input);
  });
}

const REGISTRY_REACH = /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|HTTPS?_PROXY|NO_PROXY)$/i;

/** The JSON blocks of the README's MCP section: the upstreams config, then a client's config. */
function mcpConfigs(): [upstreams: string, client: string] {
  const section = README.slice(README.indexOf('## Code mode for any MCP client'));
  const [upstreams, client] = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => match[1] as string);
  assert.ok(upstreams !== undefined && client !== undefined, 'the MCP section shows both configs');
  return [upstreams, client];
}

/**
 * An MCP client started as the README says, from a directory of its own: the outer npx runs
 * codecell with npm's variables (npm_config_package among them) set, and codecell's upstream,
 * itself started with `npx -y`, must still run its own package.
 */
async function anyDirectoryMcp(dir: string, tarball: string): Promise<void> {
  const [upstreams, client] = mcpConfigs();
  const upstreamsFile = join(dir, 'upstreams.json');
  writeFileSync(upstreamsFile, upstreams);
  const config = JSON.parse(
    client.replace('/path/to/codecell-0.1.0.tgz', tarball).replace('/path/to/upstreams.json', upstreamsFile),
  ) as { mcpServers: { codecell: { command: string; args: string[] } } };
  const { command, args } = config.mcpServers.codecell;
  const cwd = mkdtempSync(join(dir, 'client-'));
  // As MCP clients start servers: the SDK's default environment (PATH, HOME, ...), nothing of npm's,
  // and what this machine needs to reach the registry.
  const reach = Object.entries(process.env).filter(
    (entry): entry is [string, string] => REGISTRY_REACH.test(entry[0]) && entry[1] !== undefined,
  );
  const env = { ...getDefaultEnvironment(), ...Object.fromEntries(reach) };
  const transport = new StdioClientTransport({ command, args, cwd, env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const mcp = new Client({ name: 'codecell-test', version: '1.0.0' });
  try {
    await mcp.connect(transport, { timeout: 150_000 });
    // An upstream that npx starts after codecell's 5 s start-up window joins later (tools/list_changed):
    // its tools are in exec's declarations once it has.
    const until = Date.now() + 120_000;
    const declared = async (): Promise<boolean> =>
      (await mcp.listTools()).tools.some((tool) => tool.description?.includes('everything__echo') === true);
    while (!(await declared())) {
      assert.ok(Date.now() < until, `the upstream never joined; codecell mcp's stderr:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const result = (await mcp.callTool(
      { name: 'exec', arguments: { source: 'text(await tools.everything__echo({ message: "from anywhere" }))' } },
      undefined,
      { timeout: 60_000 },
    )) as { content: { type: string; text?: string }[] };
    assert.deepEqual(
      result.content.map((block) => block.text),
      ['Echo: from anywhere', 'cell 1 completed'],
      `codecell mcp's stderr:\n${stderr}`,
    );
  } finally {
    await mcp.close();
  }
}

test(
  'npm pack installs in a fresh project: the quick start runs as printed, both bins work, and MCP from anywhere',
  { timeout: 240_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'codecell-packed-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // dist/ is built (npm test builds first); packing runs no script.
    await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], ROOT);
    const [tarball] = readdirSync(dir).filter((name) => name.endsWith('.tgz'));
    assert.ok(tarball !== undefined, 'npm pack made a tarball');
    const mcp = anyDirectoryMcp(dir, join(dir, tarball));
    mcp.catch(() => {}); // awaited below
    const project = join(dir, 'project');
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({
        name: 'my-agent',
        version: '1.0.0',
        type: 'module',
        private: true,
        allowScripts: { 'isolated-vm': false, codecell: false },
      }),
    );
    // @types/node as a TypeScript consumer has it (the version this repository builds with); the
    // optional peers (the MCP SDK, the frameworks) are not installed.
    const types = JSON.parse(readFileSync(join(ROOT, 'node_modules/@types/node/package.json'), 'utf8')) as {
      version: string;
    };
    const install = ['install', '--no-audit', '--no-fund', '--prefer-offline'];
    await run('npm', [...install, join(dir, tarball), `@types/node@${types.version}`], project);

    const start = README.indexOf('```js', README.indexOf('## Quick start')) + '```js\n'.length;
    writeFileSync(join(project, 'quickstart.mjs'), README.slice(start, README.indexOf('```', start)));
    const printed = await run(process.execPath, ['--no-node-snapshot', 'quickstart.mjs'], project);
    assert.match(
      printed,
      /^1 \{\n {2}kind: 'completed',\n {2}cellId: '1',\n {2}items: \[ \{ type: 'text', text: 'sum = 3' \} \]\n\}\n$/,
    );

    // What the README and --help point at comes with the package.
    const installed = join(project, 'node_modules', 'codecell');
    for (const file of ['LICENSE', 'docs/guide.md', 'docs/protocol.md', 'docs/scaling.md'])
      assert.ok(existsSync(join(installed, file)), `the package has ${file}`);
    assert.match(readFileSync(join(installed, 'LICENSE'), 'utf8'), /^MIT License/);

    const bin = (name: string): string => join(project, 'node_modules', '.bin', name);
    assert.match(await run(bin('codecell'), ['--version'], project), /^codecell \d+\.\d+\.\d+\n$/);
    assert.match(
      await run(bin('codecell-host'), ['--version'], project),
      /^codecell-host \d+\.\d+\.\d+ \(protocol 2\)\n$/,
    );
    assert.equal(await run(bin('codecell'), ['run', '-'], project, 'text(6 * 7)'), '42\n');

    // The published declarations compile in a strict consumer that checks libraries too.
    writeFileSync(
      join(project, 'consumer.ts'),
      [
        "import { cellFailure, SessionRuntime, type CellEvent } from 'codecell';",
        "import { HostClient, SessionBuilder, type RemoteSession } from 'codecell/host';",
        "import { connectInProcess } from 'codecell/testing';",
        'const session = new SessionRuntime({ invokeTool: async () => null, notify: async () => {} });',
        'const failure = (event: CellEvent): string | undefined => cellFailure(event);',
        'export const used: unknown[] = [session, failure, HostClient, SessionBuilder, connectInProcess];',
        'export type Remote = RemoteSession;',
      ].join('\n'),
    );
    const compilerOptions = { target: 'ES2022', module: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], project);
    await mcp;
  },
);
