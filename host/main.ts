// The codecell-host process: JSON-RPC on stdin/stdout, logs on stderr, exit 0 once stdin closes
// and every session was shut down.
import { assertIsolatesUsable, settleIsolatesForExit } from '../src/internal.js';
import { createHost } from './server.js';

try {
  assertIsolatesUsable();
} catch (error) {
  process.stderr.write(`codecell-host: ${(error as Error).message}\n`);
  process.exit(2);
}

/** Exit status after V8 lost control of an isolate: the client sees ERR_HOST_EXITED and respawns. */
const EXIT_CATASTROPHIC = 70;

const host = createHost({
  onCatastrophicError: () => {
    // The process is tainted, and an orderly exit would hang joining the lost isolate's thread:
    // end the sessions (bounded), then stop hard. The client sees the exit and respawns.
    const die = (): void => {
      process.stderr.write(`codecell-host: exiting after a catastrophic isolate error (status ${EXIT_CATASTROPHIC} intended, killing self)\n`);
      process.kill(process.pid, 'SIGKILL');
    };
    setTimeout(die, 2_000).unref();
    void host.close().finally(die);
  },
});
await host.closed;
await settleIsolatesForExit();
process.exit(0);
