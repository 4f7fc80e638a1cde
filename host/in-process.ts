// `codecell/testing`: codecell-host's server in this process over linked streams, with a
// HostClient on the other end: the protocol without a child process (for tests and embedding
// experiments).
import { PassThrough } from 'node:stream';
import type { Logger } from '../src/index.js';
import { HostClient } from './client/client.js';
import { createHost, type Host } from './server/server.js';

/** A host served in this process over linked streams, with its client (for tests). */
export interface InProcessHost {
  client: HostClient;
  host: Host;
  /** Writes raw bytes to the host's input, as a misbehaving client would. */
  toHost: PassThrough;
  /** Everything the host wrote. */
  fromHost: PassThrough;
  /** Closes the host's input, as a client that went away. */
  close(): Promise<void>;
}

/** Starts a host in this process and connects a HostClient to it over linked streams (codecell/testing). */
export async function connectInProcess(
  options: { logger?: Logger; callbackAbortDeadlineMs?: number } = {},
): Promise<InProcessHost> {
  const toHost = new PassThrough();
  const fromHost = new PassThrough();
  const host = createHost({
    input: toHost,
    output: fromHost,
    logger: options.logger,
    callbackAbortDeadlineMs: options.callbackAbortDeadlineMs,
  });
  const client = await HostClient.connect(fromHost, toHost, { logger: options.logger });
  const close = async (): Promise<void> => {
    toHost.end();
    await host.closed;
    await client.close();
  };
  return { client, host, toHost, fromHost, close };
}
