// The codecell-host process: JSON-RPC on stdin/stdout, logs on stderr, exit 0 once stdin closes
// and every session was shut down. Its command line is host/cli/host-args.ts.
import { assertIsolatesUsable, isolatesDisposedCount, settleIsolatesForExit } from '../../src/internal.js';
import { writeSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { hostCommand } from '../cli/host-args.js';
import { createHost } from './server.js';

const exitCode = hostCommand(process.argv.slice(2), process);
if (exitCode !== undefined) process.exit(exitCode);

try {
  assertIsolatesUsable();
} catch (error) {
  process.stderr.write(`codecell-host: ${(error as Error).message}\n`);
  process.exit(2);
}

/**
 * A long-lived host's memory plateaus (SPEC §8): what each cell leaves behind is garbage that
 * Node's small heap would otherwise collect only rarely (and isolated-vm frees a disposed
 * isolate's memory only with its handles), so while cells come and go the heap is collected
 * at most every 2 s. With the small young generation of HOST_NODE_FLAGS: RSS +4 MiB from cell
 * 1 000 to 5 000, against +30 MiB and rising without.
 */
function keepMemoryFlat(): void {
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;
  let seen = isolatesDisposedCount();
  setInterval(() => {
    const disposed = isolatesDisposedCount();
    if (disposed - seen < 64) return;
    seen = disposed;
    collect();
  }, 2_000).unref();
}

keepMemoryFlat();
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
