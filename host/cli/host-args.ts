// codecell-host's command line: its usage, --help and --version. The process entry
// (host/server/main.ts) asks this module first and serves only when it says so.
import type { Writable } from 'node:stream';
import { CODECELL_VERSION } from '../../src/internal.js';
import { PROTOCOL_VERSION } from '../wire/protocol.js';

const HOST_USAGE = [
  'usage: codecell-host',
  '',
  'Serves codecell sessions over JSON-RPC 2.0 on standard input and output (Content-Length',
  'frames; docs/protocol.md), logging to standard error; exits 0 once standard input closes and',
  'every session was shut down. Use it through HostClient (codecell/host) or any JSON-RPC client.',
  '',
  '  --help      this text',
  '  --version   the version and protocol version',
].join('\n');

/** undefined: serve; a number: exit with it (after writing help, the version, or the mistake). */
export function hostCommand(args: readonly string[], io: { stdout: Writable; stderr: Writable }): number | undefined {
  const [flag] = args;
  if (flag === undefined) return undefined;
  if (flag === '--version' || flag === '-v') {
    io.stdout.write(`codecell-host ${CODECELL_VERSION} (protocol ${PROTOCOL_VERSION})\n`);
    return 0;
  }
  const help = flag === '--help' || flag === '-h';
  (help ? io.stdout : io.stderr).write(`${help ? '' : `codecell-host: unknown argument ${flag}\n`}${HOST_USAGE}\n`);
  return help ? 0 : 2;
}
