// A codecell-host child process as a HostLink (HostClient.spawn): its stdio is the link, its exit
// the link's death.
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CodeCellError, type Logger } from '../../src/index.js';
import { streamCarrier } from '../wire/framing.js';
import { HOST_NODE_FLAGS } from '../wire/host-process.js';
import { HostLink, type RehomeOptions } from './link.js';

/** How HostClient.spawn starts codecell-host processes. */
export interface HostClientOptions extends RehomeOptions {
  /** The host command; default: this Node binary running codecell-host. */
  command?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Start a fresh host on the next createSession after the host died. Default true. */
  respawn?: boolean;
  /**
   * How many host processes sessions are spread over, at most (each session lives on one; a
   * process that dies takes only its own sessions). One starts with the client, the others as
   * sessions are created (a new session goes to an idle slot before a busy process). Default: the
   * machine's cores (`os.availableParallelism()`).
   */
  processes?: number;
  /** Where the host's stderr goes. Default 'inherit'. */
  stderr?: 'inherit' | 'ignore' | 'pipe';
  logger?: Logger;
  /**
   * While requests are outstanding, a host silent this long is pinged, and one that leaves the
   * ping unanswered as long again is killed and reported as ERR_HOST_EXITED. Default 5 000 ms.
   */
  livenessTimeoutMs?: number;
}

const HOST_MAIN = fileURLToPath(new URL('../bin/codecell-host.js', import.meta.url));

/** Starts a host process with the client's options, and links it. */
export function spawnLink(options: HostClientOptions, logger: Logger): HostLink {
  const child = spawn(options.command ?? process.execPath, options.args ?? [...HOST_NODE_FLAGS, HOST_MAIN], {
    stdio: ['pipe', 'pipe', options.stderr ?? 'inherit'],
    env: options.env ?? process.env,
  });
  const link = new HostLink(streamCarrier(child.stdout as Readable, child.stdin as Writable), child, logger, {
    ...options,
    handOff: options.rehome !== false,
  });
  child.on('error', (error) => {
    link.die(new CodeCellError('ERR_HOST_EXITED', `codecell-host failed to start: ${error.message}`, { cause: error }));
    // A process that never started (no such command, not executable) has no exit to wait for.
    if (child.pid === undefined) link.exited();
  });
  child.on('exit', (code, signal) => {
    link.die(
      new CodeCellError('ERR_HOST_EXITED', `codecell-host exited (code ${code ?? 'none'}, signal ${signal ?? 'none'})`),
    );
    link.exited();
  });
  return link;
}
