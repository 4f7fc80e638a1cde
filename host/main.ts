// The codecell-host process: JSON-RPC on stdin/stdout, logs on stderr, exit 0 once stdin closes
// and every session was shut down.
import { assertIsolatesUsable, settleIsolatesForExit } from '../src/internal.js';
import { writeSync } from 'node:fs';
import { createHost } from './server.js';

try {
  assertIsolatesUsable();
} catch (error) {
  process.stderr.write(`codecell-host: ${(error as Error).message}\n`);
  process.exit(2);
}

const host = createHost({
  onCatastrophicError: (message) => {
    // The process is tainted, and any orderly exit (process.exit included) can block forever in
    // isolated-vm's teardown, joining the lost isolate's thread. So: say why, synchronously, and
    // stop at once. The client sees the exit (ERR_HOST_EXITED) and starts a fresh host.
    try {
      writeSync(2, `codecell-host: V8 lost control of an isolate (${message}); exiting at once\n`);
    } finally {
      process.kill(process.pid, 'SIGKILL');
    }
  },
});
await host.closed;
await settleIsolatesForExit();
process.exit(0);
