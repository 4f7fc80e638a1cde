import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../bin/codecell.js', import.meta.url));
const DEMO = fileURLToPath(new URL('../host/cli/demo.js', import.meta.url));

function codecell(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(CLI, args, { cwd: root, input, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('codecell run examples/weather.js: the cell output on stdout, its tool calls and notifications on stderr, exit 0', () => {
  const { status, stdout, stderr } = codecell(['run', 'examples/weather.js', '--tools', 'examples/tools.json']);
  assert.equal(status, 0, stderr);
  const lines = stdout.trim().split('\n');
  const trace = stderr.trim().split('\n');
  assert.ok(trace.includes('→ tool-1 get_weather({"city":"Oslo"})'), stderr);
  assert.ok(trace.includes('• looked up Oslo'), stderr);
  assert.ok(lines.includes('Hello! It is 4 °C in Oslo.'));
  assert.ok(!lines.some((line) => line.startsWith('→') || line.startsWith('•')), 'no trace on stdout');
  assert.equal(lines.at(-1), 'tools available: get_weather, convert_currency');
});

test("codecell run --tools checks a call's input against the tool's inputSchema before the canned result", () => {
  const { status, stdout, stderr } = codecell(
    ['run', '-', '--tools', 'examples/tools.json'],
    'try { await tools.get_weather({ town: "Oslo" }) } catch (e) { text(e.name + ": " + e.message) }',
  );
  assert.equal(status, 0, stderr);
  assert.equal(stdout.trim(), 'TypeError: tools.get_weather: input.city is required');
  assert.ok(!stderr.includes('→ tool-1'), `the call never reached the tool: ${stderr}`);
});

test('codecell run exits 1 with a clear message when the cell exhausts V8 (catastrophic or not)', () => {
  const { status, stderr } = codecell(
    ['run', '-'],
    'const a = Array.from({ length: 2 ** 26 }, (_, i) => i); text(a.length)',
  );
  assert.equal(status, 1, stderr);
  assert.match(
    stderr,
    /the cell's host process died .*V8 lost control of the cell's isolate|cell terminated \(memoryLimit\)/,
  );
});

test('codecell run examples/hello.js works without any tools', () => {
  const { status, stdout, stderr } = codecell(['run', 'examples/hello.js']);
  assert.equal(status, 0, stderr);
  assert.deepEqual(stdout.trim().split('\n'), [
    'Hello, codecell!',
    'facts: { primes: [ 5, 7, 11 ], tools: 0 }',
    'stored a value: true',
  ]);
  assert.match(stderr, /• about to wait a moment/);
});

test('--help and --version for codecell, codecell mcp and codecell-host', () => {
  for (const args of [['--help'], ['mcp', '--help']]) {
    const { status, stdout } = codecell(args);
    assert.equal(status, 0, args.join(' '));
    assert.match(stdout, /usage: codecell/);
  }
  assert.match(codecell(['--version']).stdout, /^codecell \d+\.\d+\.\d+\n$/);
  assert.match(codecell(['mcp', '--version']).stdout, /^codecell \d+\.\d+\.\d+\n$/);
  const host = fileURLToPath(new URL('../../bin/codecell-host.js', import.meta.url));
  for (const [flag, pattern] of [
    ['--help', /usage: codecell-host/],
    ['--version', /^codecell-host \d+\.\d+\.\d+ \(protocol \d+\)\n$/],
  ] as const) {
    const result = spawnSync(process.execPath, ['--no-node-snapshot', host, flag], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 0);
    assert.match(result.stdout, pattern);
  }
});

test('a .ts file runs as TypeScript without --ts, its errors name the file, and a tools module needs no notify', () => {
  const dir = mkdtempSync(join(tmpdir(), 'codecell-cli-'));
  try {
    writeFileSync(join(dir, 'greet.ts'), 'const who: string = await tools.name();\ntext(`hi ${who}`);\nnull.boom;\n');
    writeFileSync(
      join(dir, 'tools.mjs'),
      'export const tools = [{ name: "name" }];\nexport const delegate = { invokeTool: async () => "ada" };\n',
    );
    const { status, stdout, stderr } = codecell(['run', join(dir, 'greet.ts'), '--tools', join(dir, 'tools.mjs')]);
    assert.equal(status, 1);
    assert.equal(stdout.trim(), 'hi ada');
    assert.match(stderr, /TypeError: Cannot read properties of null[\s\S]*at greet\.ts:3:/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('codecell run exits 1 on a failed cell, printing its error', () => {
  const { status, stdout, stderr } = codecell(['run', '-'], 'text("partial");\nthrow new Error("it broke")');
  assert.equal(status, 1);
  assert.equal(stdout.trim(), 'partial');
  assert.match(stderr, /Error: it broke\n\s+at cell\.js:2:/);
});

test('codecell run exits 2 with the usage on bad arguments', () => {
  for (const args of [['run'], ['run', 'a.js', '--yield', 'soon'], ['run', '--bogus', 'a.js'], ['jump']]) {
    const { status, stderr } = codecell(args);
    assert.equal(status, 2, args.join(' '));
    assert.match(stderr, /usage: codecell run/);
  }
  assert.equal(codecell(['run', 'no-such-file.js']).status, 2);
  const bad = codecell(['run', '-', '--cpu-time-ms', 'soon'], 'text(1)');
  assert.deepEqual([bad.status, bad.stderr], [2, 'codecell run: --cpu-time-ms takes a whole number, got "soon"\n']);
});

test('codecell run --cpu-time-ms and --wall-time-ms end the cell, naming the limit', () => {
  const spinning = codecell(['run', '-', '--cpu-time-ms', '200'], 'text("spin"); while (true) {}');
  assert.deepEqual(
    [spinning.status, spinning.stderr.trim().split('\n').at(-1)],
    [1, 'cell terminated (timeLimit: it used its cpuTimeMs limit of 200 ms)'],
  );
  const waiting = codecell(['run', '-', '--wall-time-ms', '300'], 'await new Promise((r) => setTimeout(r, 60_000))');
  assert.deepEqual(
    [waiting.status, waiting.stderr.trim().split('\n').at(-1)],
    [1, 'cell terminated (timeLimit: its wallTimeMs limit of 300 ms passed)'],
  );
});

test('codecell run --json prints the final event; --ts strips types', () => {
  const { status, stdout } = codecell(['run', '-', '--json', '--ts'], 'const n: number = 41;\ntext(n + 1)');
  assert.equal(status, 0);
  assert.deepEqual(JSON.parse(stdout), { kind: 'completed', cellId: '1', items: [{ type: 'text', text: '42' }] });
});

test('npm start and npm pack build nothing after a build (npm ci builds in prepare): the build leaves its stamp', () => {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts;
  assert.match(scripts.build ?? '', /&& node scripts\/build-if-stale\.js --stamp$/, 'the build ends by stamping');
  // prepare builds a fresh clone (no stamp yet), and nothing after a build (npm pack after npm ci).
  assert.equal(scripts.prepare, 'node scripts/build-if-stale.js');
  const stale = (...flags: string[]) =>
    spawnSync(process.execPath, [join(root, 'scripts/build-if-stale.js'), ...flags], { encoding: 'utf8' }).stdout;
  assert.equal(stale('--stamp'), '');
  assert.equal(stale('--dry-run'), 'fresh\n', 'npm start would not build again');
});

test('npm start: the demo runs its steps against a real codecell-host and exits 0', () => {
  const result = spawnSync(process.execPath, ['--no-node-snapshot', DEMO], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  for (const expected of [
    'Mechanical keyboard',
    'notify  • searched "mouse"',
    'yielded',
    'reason: outputLimit',
    'outstanding: tool-1',
    'terminated',
    'done in',
  ]) {
    assert.ok(result.stdout.includes(expected), expected);
  }
});

test('codecell mcp and the adapters without their optional peers say what to install', (t) => {
  // An installation of codecell with its runtime dependencies only (the SDKs are optional peers).
  const install = mkdtempSync(join(tmpdir(), 'codecell-no-sdk-'));
  t.after(() => rmSync(install, { recursive: true, force: true }));
  for (const part of ['bin', 'dist', 'package.json'])
    cpSync(join(root, part), join(install, part), { recursive: true });
  mkdirSync(join(install, 'node_modules'));
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (!['@modelcontextprotocol', 'ai', '@openai', '@dbos-inc', '@restatedev', '.bin'].includes(name))
      symlinkSync(join(root, 'node_modules', name), join(install, 'node_modules', name));
  }
  for (const [entry, peer] of [
    ['ai-sdk', 'ai'],
    ['openai-agents', '@openai/agents'],
    ['dbos', '@dbos-inc/dbos-sdk'],
    ['restate', '@restatedev/restate-sdk'],
  ]) {
    const imported = spawnSync(process.execPath, ['--input-type=module', '-e', `await import('codecell/${entry}')`], {
      cwd: install,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.notEqual(imported.status, 0);
    assert.match(
      imported.stderr,
      new RegExp(`Error: codecell/${entry} needs ${peer}, which is not installed: npm install ${peer}\n`),
    );
  }
  const bin = join(install, 'bin', 'codecell.js');
  const result = spawnSync(process.execPath, [bin, 'mcp', '--upstream', 'true'], {
    cwd: install,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(result.status, 2, result.stderr);
  assert.equal(
    result.stderr,
    'codecell mcp needs @modelcontextprotocol/sdk, which is not installed: npm install @modelcontextprotocol/sdk\n',
  );
  // The runtime itself works in that installation.
  const run = spawnSync(process.execPath, [bin, 'run', '-'], {
    cwd: install,
    input: 'text(6 * 7)',
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, '42\n');
});

test('under npx, a codecell-host whose npm process is killed stops serving (no orphan holds its port)', async (t) => {
  // What npm exec does: a shell runs the bin, with npm_command=exec; then npm is killed (SIGKILL).
  const host = join(root, 'bin/codecell-host.js');
  const npm = `require('node:child_process').spawn('sh', ['-c', ${JSON.stringify(`"${process.execPath}" "${host}" --listen 127.0.0.1:0 & wait`)}], { stdio: 'inherit' }); setInterval(() => {}, 1000);`;
  const fakeNpm = spawn(process.execPath, ['-e', npm], {
    env: { ...process.env, npm_command: 'exec' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.after(() => fakeNpm.kill('SIGKILL'));
  let stderr = '';
  fakeNpm.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  await waitFor(() => /listening on ws:\/\/127\.0\.0\.1:\d+/.test(stderr), 30_000);
  const port = Number(/listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]);
  const answers = async (): Promise<boolean> => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
    } catch {
      return false;
    }
  };
  assert.equal(await answers(), true);
  fakeNpm.kill('SIGKILL');
  let gone = false;
  for (let tries = 0; tries < 100 && !gone; tries++) {
    gone = !(await answers());
    if (!gone) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(gone, true, 'the port was freed');
});

test('codecell-host started by hand in a terminal says what it waits for; Ctrl-D ends it', () => {
  // `script` gives it a terminal (util-linux); Ctrl-D at the start of a line is the end of its input.
  const command = `"${process.execPath}" "${join(root, 'bin/codecell-host.js')}"`;
  const run = spawnSync('script', ['-qec', command, '/dev/null'], {
    input: '\u0004',
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(run.status, 0, run.stderr);
  assert.match(
    run.stdout,
    /^codecell-host: serving JSON-RPC on stdin\/stdout .*--listen <host>:<port>.*Ctrl-D ends it\r?\n/,
  );
});
