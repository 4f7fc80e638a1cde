// The codecell-host process: JSON-RPC on stdin/stdout, logs on stderr, exit 0 once stdin closes
// and every session was shut down.
import { assertNodeSnapshotDisabled } from '../src/isolate.js';
import { createHost } from './server.js';

try {
  assertNodeSnapshotDisabled();
} catch (error) {
  process.stderr.write(`codecell-host: ${(error as Error).message}\n`);
  process.exit(2);
}

const host = createHost();
await host.closed;
process.exit(0);
