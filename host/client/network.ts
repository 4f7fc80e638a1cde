// The client's side of codecell-host as a network service: which hosts there are (a list of
// ws(s):// URLs, and names re-resolved every few seconds so a Kubernetes headless Service's pods
// are followed as they come and go), and a link to one of them over WebSocket.
import { lookup } from 'node:dns/promises';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { CodeCellError, type Logger } from '../../src/index.js';
import { messageOf } from '../../src/internal.js';
import { socketCarrier } from '../wire/websocket.js';
import { HostLink, type LivenessOptions, type RehomeOptions } from './link.js';

/** A host's URL (`ws://host:port`, `wss://…`), or a name whose every address is a host. */
export type HostAddress = string | { dns: string; tls?: boolean };

/** How HostClient.connect reaches listening hosts. */
export interface NetworkOptions extends LivenessOptions, RehomeOptions {
  /** The hosts: URLs, and `{ dns: 'name:port' }` entries (every address the name resolves to). */
  hosts: HostAddress[];
  /** Sent as `Authorization: Bearer <token>` (the host's --token-file). */
  token?: string;
  /** For `wss://`: the CA that signed the hosts' certificates (default: Node's), or no check at all. */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /** How often `dns` entries are resolved again. Default 5 000 ms. */
  resolveIntervalMs?: number;
  /** How often each host is asked for its load (host/ping; it is also a liveness check). Default 1 000 ms. */
  statusIntervalMs?: number;
  /** Bound on opening a connection (TCP, TLS, upgrade, initialize). Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** Resolves a `dns` entry's name to addresses. Default: the system resolver (`dns.lookup`, all addresses). */
  resolve?: (name: string) => Promise<string[]>;
  logger?: Logger;
}

/** One host found: its URL, and the name its certificate is for (a resolved address's DNS name). */
export interface FoundHost {
  url: string;
  servername?: string;
}

export function checkNetworkOptions(options: NetworkOptions): void {
  const bad = (message: string): never => {
    throw new CodeCellError('ERR_INVALID_REQUEST', message);
  };
  if (!Array.isArray(options.hosts) || options.hosts.length === 0)
    bad('hosts must be a non-empty array of ws(s):// URLs or { dns: "name:port" }');
  for (const entry of options.hosts) {
    if (typeof entry === 'string') {
      if (!/^wss?:\/\/[^/\s]+/.test(entry)) bad(`hosts: ${JSON.stringify(entry)} is not a ws:// or wss:// URL`);
    } else if (
      entry === null ||
      typeof entry !== 'object' ||
      typeof entry.dns !== 'string' ||
      !/^[^:\s]+:\d{1,5}$/.test(entry.dns)
    ) {
      bad(`hosts: ${JSON.stringify(entry)} is neither a URL nor { dns: "name:port" }`);
    }
  }
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token === ''))
    bad('token must be a non-empty string');
  for (const name of ['resolveIntervalMs', 'statusIntervalMs', 'connectTimeoutMs'] as const) {
    const value = options[name];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) bad(`${name} must be a positive integer`);
  }
  if (options.resolve !== undefined && typeof options.resolve !== 'function') bad('resolve must be a function');
}

const systemResolve = async (name: string): Promise<string[]> =>
  (await lookup(name, { all: true })).map(({ address }) => address);

/**
 * Every host the entries name now. A name that does not resolve is logged and skipped, and
 * `complete` is false (the hosts it named before are kept).
 */
export async function findHosts(options: NetworkOptions): Promise<{ hosts: FoundHost[]; complete: boolean }> {
  const resolve = options.resolve ?? systemResolve;
  let complete = true;
  const found = await Promise.all(
    options.hosts.map(async (entry): Promise<FoundHost[]> => {
      if (typeof entry === 'string') return [{ url: entry.replace(/\/$/, '') }];
      const colon = entry.dns.lastIndexOf(':');
      const [name, port] = [entry.dns.slice(0, colon), entry.dns.slice(colon + 1)];
      try {
        const addresses = await resolve(name);
        const scheme = entry.tls === true ? 'wss' : 'ws';
        return addresses.map((address) => ({
          url: `${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`,
          servername: name,
        }));
      } catch (error) {
        options.logger?.warn(`codecell: cannot resolve ${name}: ${messageOf(error)}`);
        complete = false;
        return [];
      }
    }),
  );
  const byUrl = new Map(found.flat().map((host) => [host.url, host]));
  return { hosts: [...byUrl.values()], complete };
}

/**
 * Opens a WebSocket to the host and a link over it, and initializes it, all within
 * `connectTimeoutMs`: a refused token rejects with ERR_UNAUTHORIZED, anything else that keeps the
 * connection from being made with ERR_HOST_UNREACHABLE, each saying what happened.
 */
export async function connectSocket(host: FoundHost, options: NetworkOptions, logger: Logger): Promise<HostLink> {
  const timeoutMs = options.connectTimeoutMs ?? 5_000;
  const started = performance.now();
  const socket = new WebSocket(host.url, {
    headers: options.token === undefined ? {} : { Authorization: `Bearer ${options.token}` },
    handshakeTimeout: timeoutMs,
    perMessageDeflate: false,
    maxPayload: 256 * 1024 * 1024,
    ...(host.servername === undefined || /^[\d.]+$|:/.test(host.servername) ? {} : { servername: host.servername }),
    ...(options.tls?.ca === undefined ? {} : { ca: options.tls.ca }),
    ...(options.tls?.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.tls.rejectUnauthorized }),
  });
  // Errors after the first one (or after a refusal) are the link's to report, never thrown.
  socket.on('error', () => {});
  let stream: Duplex | undefined;
  socket.once('upgrade', (response) => (stream = response.socket));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk.slice(0, 500)));
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        const why = `codecell-host at ${host.url} refused the connection: ${status} ${body.trim()}`;
        socket.terminate();
        reject(new CodeCellError(status === 401 || status === 403 ? 'ERR_UNAUTHORIZED' : 'ERR_HOST_UNREACHABLE', why));
      });
    });
    socket.once('error', (error) =>
      reject(
        new CodeCellError('ERR_HOST_UNREACHABLE', `cannot reach codecell-host at ${host.url}: ${error.message}`, {
          cause: error,
        }),
      ),
    );
  });
  socket.on('error', (error) => logger.warn(`codecell: the connection to ${host.url} failed: ${error.message}`));
  const link = new HostLink(socketCarrier(socket, stream), undefined, logger, {
    name: host.url,
    ...(options.livenessTimeoutMs === undefined ? {} : { livenessTimeoutMs: options.livenessTimeoutMs }),
    handOff: options.rehome !== false,
  });
  const left = Math.max(1, Math.floor(timeoutMs - (performance.now() - started)));
  try {
    await link.initialize(AbortSignal.timeout(left));
  } catch (error) {
    await link.close();
    if (!(error instanceof DOMException && error.name === 'TimeoutError')) throw error;
    throw new CodeCellError(
      'ERR_HOST_UNREACHABLE',
      `codecell-host at ${host.url} accepted the connection but did not answer initialize within ` +
        `connectTimeoutMs (${timeoutMs} ms)`,
    );
  }
  return link;
}
