// The test command of `npm run mutate` and `npm run mutate:host` (stryker.config.json,
// stryker.host.config.json): the narrow test files of the mutated code in one process, fastest
// first, ending at the first failing test (scripts/bail-reporter.js). Exits 1 when a test failed.
// `node scripts/mutant-tests.js host` runs the host's files (host/client, host/server, host/wire,
// host/cli/mcp-*); with no argument, the runtime's (src/cell/, src/limits.ts, the PendingRouter).
import { spawnSync } from 'node:child_process';

const SETS = {
  runtime: [
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
  ],
  host: [
    'session-record',
    'wire-pool',
    'rpc',
    'incoming-calls',
    'inbound',
    'host',
    'host-v2',
    'remote-deadline',
    'suspend',
    'rehome',
    'backpressure',
    'flood-guard',
    'mcp',
    'hostile-upstreams',
  ],
};

const set = SETS[process.argv[2] ?? 'runtime'];
if (set === undefined) throw new Error(`unknown test set ${process.argv[2]}: one of ${Object.keys(SETS).join(', ')}`);
const { status } = spawnSync(
  process.execPath,
  [
    '--no-node-snapshot',
    '--test',
    '--test-isolation=none',
    '--test-reporter=./scripts/bail-reporter.js',
    '--test-timeout=20000',
    ...set.map((name) => `dist/test/${name}.test.js`),
  ],
  { stdio: ['ignore', 'inherit', 'ignore'] },
);
process.exit(status === 0 ? 0 : 1);
