// What codecell-host does once V8 lost control of an isolate (isolated-vm's catastrophic error):
// the process is tainted, and any orderly exit (process.exit included) can block forever in
// isolated-vm's teardown, joining the lost isolate's thread. So: say why, synchronously, let the
// notice naming the cell leave (host/catastrophe: its client never runs that cell again), and
// stop — within NOTICE_WAIT_MS whatever happens. The client sees the exit (ERR_HOST_EXITED,
// signal SIGKILL) and moves the innocent cells elsewhere.
import { writeSync } from 'node:fs';

/**
 * How long the notice may take to leave. On stdio it is written at once (pipes write synchronously
 * on Linux); over a WebSocket it waits for the socket to take it.
 */
export const NOTICE_WAIT_MS = 1_000;

export function exitAtOnce(message: string, noticeSent?: Promise<void>): void {
  try {
    writeSync(2, `codecell-host: V8 lost control of an isolate (${message}); exiting at once\n`);
  } catch {
    // stderr is gone: the exit below still happens
  }
  const kill = (): void => void process.kill(process.pid, 'SIGKILL');
  if (noticeSent === undefined) return kill();
  setTimeout(kill, NOTICE_WAIT_MS);
  noticeSent.then(kill, kill);
}
