// `npm run conformance`: the official MCP conformance suite (@modelcontextprotocol/conformance,
// pinned in package.json) against `codecell mcp --http` over @modelcontextprotocol/server-everything,
// for both revisions it speaks — 2025-11-25 (`--spec-version`) and 2026-07-28 (`--requirements`) —
// each with its baseline in test/ (the scenarios and checks that call the suite's own test tools,
// prompts and resources, with why). Prints each run's summary and what was left out; exits 1 if a
// run fails. `npm test` asserts the same runs (test/mcp-http.test.ts, test/mcp-modern.test.ts).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONFORMANCE = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');
const RUNS = [
  { name: '2025-11-25', args: ['--spec-version', '2025-11-25'], baseline: 'test/conformance-baseline.yml' },
  { name: '2026-07-28', args: ['--requirements', '2026-07-28'], baseline: 'test/conformance-baseline-2026-07-28.yml' },
];

const server = spawn(
  process.execPath,
  [
    '--no-node-snapshot',
    join(ROOT, 'bin/codecell.js'),
    'mcp',
    '--http',
    '127.0.0.1:0',
    '--upstream',
    `${process.execPath} ${EVERYTHING} stdio`,
  ],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
const url = await new Promise((resolve, reject) => {
  let said = '';
  server.stderr.setEncoding('utf8');
  server.stderr.on('data', (chunk) => {
    said += chunk;
    const match = /codecell mcp listening on (\S+)\n/.exec(said);
    if (match !== null) resolve(match[1]);
  });
  server.once('exit', (code) => reject(new Error(`codecell mcp exited ${code}: ${said}`)));
});
const folder = mkdtempSync(join(tmpdir(), 'codecell-conformance-'));
let failed = false;
try {
  for (const run of RUNS) {
    process.stdout.write(`\n== MCP ${run.name}: conformance server ${run.args.join(' ')} against ${url}\n`);
    const result = spawnSync(
      process.execPath,
      [CONFORMANCE, 'server', '--url', url, ...run.args, '--expected-failures', join(ROOT, run.baseline)],
      { encoding: 'utf8', cwd: folder, timeout: 300_000 },
    );
    const summary = result.stdout.slice(result.stdout.indexOf('=== SUMMARY ==='));
    process.stdout.write(`${summary.trim()}\n`);
    process.stdout.write(`\nLeft out (${run.baseline}), with why:\n${leftOut(join(ROOT, run.baseline))}\n`);
    if (result.status !== 0) {
      failed = true;
      process.stdout.write(`== MCP ${run.name}: FAILED (exit ${result.status})\n${result.stderr.slice(-2_000)}\n`);
    } else process.stdout.write(`== MCP ${run.name}: passed\n`);
  }
} finally {
  server.kill();
  rmSync(folder, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

/** The baseline's entries, each with the comment above it. */
function leftOut(path) {
  const lines = readFileSync(path, 'utf8').split('\n');
  const out = [];
  let why = [];
  for (const line of lines) {
    const comment = /^\s+#\s?(.*)$/.exec(line);
    const entry = /^\s+-\s+(\S+)/.exec(line);
    if (comment !== null) why.push(comment[1]);
    else if (entry !== null) {
      if (why.length > 0) out.push(`  (${why.join(' ')})`);
      out.push(`  - ${entry[1]}`);
      why = [];
    }
  }
  return out.join('\n');
}
