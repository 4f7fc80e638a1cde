// `npm test`: runs every compiled test file but those of dist/test/servers/ (or the files given)
// under Node's test runner, two files at a time, with the flags given (package.json sets
// --test-timeout), and bounds the whole run, so a wedged test fails the suite instead of hanging
// it. `--servers` (`npm run test:servers`) runs the suites of dist/test/servers/ instead: the slow
// ones that start real servers (PostgreSQL, many hosts). The runner and every process a test
// spawns use this Node (its folder goes first on PATH for the bins' shebang).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

const WHOLE_RUN_LIMIT_MS = Number(process.env.CODECELL_TEST_LIMIT_MS ?? 15 * 60_000);
/** The longest files start first, so the two at a time end near together (seconds, idle, 2 cores). */
const LONGEST = [
  'lint', // 24
  'security/hardening', // 25
  'cli', // 23
  'mcp-store', // 23
  'hostile-upstreams', // 19
  'host-memory', // 18
  'code-shape', // 16
  'packed-install', // 16
  'faults/careless-caller', // 14
  'mcp-http-tenants', // 13
];

const args = process.argv.slice(2);
const servers = args.includes('--servers');
const flags = args.filter((arg) => arg.startsWith('--') && arg !== '--servers');
const given = args.filter((arg) => !arg.startsWith('--'));
if (!flags.some((flag) => flag.startsWith('--test-concurrency'))) flags.push('--test-concurrency=2');
// Node 22's runner applies --test-timeout to each whole file as well as to each test (Node 24 and
// 26 to each test only), so on a busy machine a file of many short tests ran over it there: on
// Node 22 the bound is at least 5 minutes, a file's as much as a test's (the whole run is bounded).
const FILE_BOUND_MS = 5 * 60_000;
if (Number(process.versions.node.split('.')[0]) === 22)
  for (const [at, flag] of flags.entries()) {
    const ms = /^--test-timeout=(\d+)$/.exec(flag)?.[1];
    if (ms !== undefined && Number(ms) < FILE_BOUND_MS) flags[at] = `--test-timeout=${FILE_BOUND_MS}`;
  }

/** The compiled test files of the run, the longest first. */
function testFiles() {
  const root = join('dist', 'test');
  const all = readdirSync(root, { recursive: true })
    .map(String)
    .filter((path) => path.endsWith('.test.js'))
    .map((path) => path.split('\\').join('/'))
    .filter((path) => path.startsWith('servers/') === servers)
    // Only files whose source is still there (a moved or deleted test leaves its old build behind).
    .filter((path) => existsSync(join('test', path.replace(/\.js$/, '.ts'))))
    .sort();
  const rank = (path) => {
    const at = LONGEST.indexOf(path.slice(0, -'.test.js'.length));
    return at < 0 ? LONGEST.length : at;
  };
  return all.sort((a, b) => rank(a) - rank(b)).map((path) => join(root, path));
}

const child = spawn(
  process.execPath,
  [
    '--no-node-snapshot',
    '--unhandled-rejections=strict',
    '--test',
    '--test-reporter=spec',
    ...flags,
    ...(given.length > 0 ? given : testFiles()),
  ],
  {
    stdio: 'inherit',
    detached: true, // its own process group, so the bound below stops the test files it started too
    env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` },
  },
);
const stopAll = (signal) => {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
};
// Over the bound: the runner is interrupted (it cancels what runs and prints the summary of what
// ran), and whatever is left of the run is killed a little later.
const limit = setTimeout(() => {
  process.stderr.write(`npm test: the suite ran over ${WHOLE_RUN_LIMIT_MS / 60_000} minutes; stopping it\n`);
  try {
    process.kill(child.pid, 'SIGINT');
  } catch {
    // already gone
  }
  setTimeout(() => stopAll('SIGKILL'), 20_000).unref();
}, WHOLE_RUN_LIMIT_MS);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stopAll(signal));
child.on('exit', (code, signal) => {
  clearTimeout(limit);
  stopAll('SIGKILL'); // nothing a test started outlives the run
  process.exit(code ?? (signal === null ? 0 : 1));
});
