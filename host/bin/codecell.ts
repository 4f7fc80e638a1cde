// The `codecell` command line (see host/cli/cli.ts).
import { assertIsolatesUsable, settleIsolatesForExit } from '../../src/internal.js';
import { main } from '../cli/cli.js';

try {
  assertIsolatesUsable();
} catch (error) {
  process.stderr.write(`codecell: ${(error as Error).message}\n`);
  process.exit(2);
}
const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
});
await settleIsolatesForExit();
process.exitCode = code;
