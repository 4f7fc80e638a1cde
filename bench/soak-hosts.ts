// The four `codecell-host --listen` processes the soaks run on loopback (127.0.0.2–5, one port).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { HOST_NODE_FLAGS } from '../host/wire/host-process.js';

const HOST_BIN = fileURLToPath(new URL('../../bin/codecell-host.js', import.meta.url));
export const ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
/** Where replacement hosts come up: new addresses, as a Deployment's new pods behind a headless Service. */
export const NEW_ADDRESSES = ['127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];

export interface Host {
  readonly url: string;
  readonly child: ChildProcess;
  readonly exited: Promise<unknown>;
}

/** Starts a host listening at `address:port`; resolves once it says where it listens. */
export function startHost(address: string, port: number, drainMs = 30_000): Promise<Host> {
  const child = spawn(
    process.execPath,
    [...HOST_NODE_FLAGS, HOST_BIN, '--listen', `${address}:${port}`, '--drain-ms', String(drainMs)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const match = /listening on (\S+)\n/.exec(stderr);
      if (match !== null) resolve({ url: match[1] as string, child, exited });
    });
    void exited.then(() => reject(new Error(`host ${address} exited before listening: ${stderr}`)));
  });
}

/** A port free on the first address (the hosts share it, each on its own address). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, ADDRESSES[0], resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
