// The `codecell` command line (see host/cli.ts).
import { assertNodeSnapshotDisabled } from '../src/isolate.js';
import { settleIsolatesForExit } from '../src/isolate-pool.js';
import { main } from './cli.js';

assertNodeSnapshotDisabled();
const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
await settleIsolatesForExit();
process.exitCode = code;
