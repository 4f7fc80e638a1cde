// `npm test`: runs every compiled test file under Node's test runner with a per-test timeout, and
// bounds the whole run, so a wedged test fails the suite instead of hanging it. The runner and
// every process a test spawns use this Node (its folder goes first on PATH for the bins' shebang).
import { spawn } from 'node:child_process';
import { delimiter, dirname } from 'node:path';

const PER_TEST_TIMEOUT_MS = 60_000;
const WHOLE_RUN_LIMIT_MS = Number(process.env.CODECELL_TEST_LIMIT_MS ?? 9 * 60_000);

const files = process.argv.slice(2);
const child = spawn(
  process.execPath,
  [
    '--no-node-snapshot',
    '--unhandled-rejections=strict',
    '--test',
    `--test-timeout=${PER_TEST_TIMEOUT_MS}`,
    '--test-reporter=spec',
    ...(files.length > 0 ? files : ['dist/test/**/*.test.js']),
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
const limit = setTimeout(() => {
  process.stderr.write(`npm test: the suite ran over ${WHOLE_RUN_LIMIT_MS / 60_000} minutes; stopping it\n`);
  stopAll('SIGKILL');
}, WHOLE_RUN_LIMIT_MS);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stopAll(signal));
child.on('exit', (code, signal) => {
  clearTimeout(limit);
  stopAll('SIGKILL'); // nothing a test started outlives the run
  process.exit(code ?? (signal === null ? 0 : 1));
});
