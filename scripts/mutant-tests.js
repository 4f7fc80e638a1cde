// The test command of `npm run mutate` (stryker.config.json): the narrow test files of the mutated
// code (src/cell/, src/limits.ts, src/streams/pending-router.ts) in one process, fastest first,
// ending at the first failing test (scripts/bail-reporter.js). Exits 1 when a test failed.
import { spawnSync } from 'node:child_process';

const FILES = [
  'pending-router',
  'callbacks',
  'cell-events',
  'session-runtime',
  'session-runtime-lifecycle',
  'floating-rejections',
  'cell-semantics',
  'cell-frontier',
  'cancellation',
  'limits',
].map((name) => `dist/test/${name}.test.js`);

const { status } = spawnSync(
  process.execPath,
  [
    '--no-node-snapshot',
    '--test',
    '--test-isolation=none',
    '--test-reporter=./scripts/bail-reporter.js',
    '--test-timeout=20000',
    ...FILES,
  ],
  { stdio: ['ignore', 'inherit', 'ignore'] },
);
process.exit(status === 0 ? 0 : 1);
