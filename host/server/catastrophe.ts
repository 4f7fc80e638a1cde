// What codecell-host does once V8 lost control of an isolate (isolated-vm's catastrophic error):
// the process is tainted, and any orderly exit (process.exit included) can block forever in
// isolated-vm's teardown, joining the lost isolate's thread. So: say why, synchronously, and stop
// at once. The client sees the exit (ERR_HOST_EXITED, signal SIGKILL) and starts a fresh host.
import { writeSync } from 'node:fs';

export function exitAtOnce(message: string): void {
  try {
    writeSync(2, `codecell-host: V8 lost control of an isolate (${message}); exiting at once\n`);
  } finally {
    process.kill(process.pid, 'SIGKILL');
  }
}
