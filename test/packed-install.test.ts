// Install from anywhere (issue 55): the tarball `npm pack` makes installs with one command in a
// fresh project of one's own, and there the README's quick start runs as printed and both bins
// work. npm fetches the dependencies (from its cache when it has them).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function run(command: string, args: string[], cwd: string, input?: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', input, timeout: 150_000 });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}: ${result.error?.message ?? ''}${result.stderr}`);
  return result.stdout;
}

test(
  'npm pack installs in a fresh project: the quick start runs as printed, and both bins work',
  { timeout: 240_000 },
  (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'codecell-packed-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // dist/ is built (npm test builds first); packing runs no script.
    run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], ROOT);
    const [tarball] = readdirSync(dir).filter((name) => name.endsWith('.tgz'));
    assert.ok(tarball !== undefined, 'npm pack made a tarball');
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
    run('npm', [...install, join(dir, tarball), `@types/node@${types.version}`], project);

    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('```js', readme.indexOf('## Quick start')) + '```js\n'.length;
    writeFileSync(join(project, 'quickstart.mjs'), readme.slice(start, readme.indexOf('```', start)));
    const printed = run(process.execPath, ['--no-node-snapshot', 'quickstart.mjs'], project);
    assert.match(
      printed,
      /^1 \{\n {2}kind: 'completed',\n {2}cellId: '1',\n {2}items: \[ \{ type: 'text', text: 'sum = 3' \} \]\n\}\n$/,
    );

    const bin = (name: string): string => join(project, 'node_modules', '.bin', name);
    assert.match(run(bin('codecell'), ['--version'], project), /^codecell \d+\.\d+\.\d+\n$/);
    assert.match(run(bin('codecell-host'), ['--version'], project), /^codecell-host \d+\.\d+\.\d+ \(protocol 2\)\n$/);
    assert.equal(run(bin('codecell'), ['run', '-'], project, 'text(6 * 7)'), '42\n');

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
    run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], project);
  },
);
