// `npm test`: runs every compiled test file (or the files given) under Node's test runner with the
// flags given (package.json sets --test-timeout), and bounds the whole run, so a wedged test fails
// the suite instead of hanging it. The runner and every process a test spawns use this Node (its
// folder goes first on PATH for the bins' shebang).
import { spawn } from 'node:child_process';
import { delimiter, dirname } from 'node:path';

const WHOLE_RUN_LIMIT_MS = Number(process.env.CODECELL_TEST_LIMIT_MS ?? 15 * 60_000);

const args = process.argv.slice(2);
const flags = args.filter((arg) => arg.startsWith('--'));
const files = args.filter((arg) => !arg.startsWith('--'));
const child = spawn(
  process.execPath,
  [
    '--no-node-snapshot',
    '--unhandled-rejections=strict',
    '--test',
    '--test-reporter=spec',
    ...flags,
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
