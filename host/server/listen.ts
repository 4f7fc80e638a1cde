// codecell-host as a network service: protocol v2 over WebSocket (one JSON-RPC message per
// WebSocket message), each connection its own createHost (its sessions invisible to the others),
// a bearer token checked before the upgrade, optional TLS, bounded connections, messages and
// sessions per connection, and on the same port GET /healthz, /readyz and /metrics. drain() is
// the pod lifecycle: not ready at once, new sessions refused ("go elsewhere"), running sessions
// served for the grace period, then shut down under the shared deadline.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CodeCellError, IsolatePool, type CellLimits, type Logger } from '../../src/index.js';
import { consoleLogger, messageOf } from '../../src/internal.js';
import { BearerToken } from '../wire/bearer.js';
import { socketCarrier } from '../wire/websocket.js';
import { defaultMemoryBudgetMb } from './memory-budget.js';
import { hostMetrics, type HostMetrics } from './metrics.js';
import { createHost, type Host } from './server.js';
import { HostStats } from './stats.js';

export interface ListenOptions {
  /** The address to bind (e.g. `127.0.0.1`, `0.0.0.0`). */
  host: string;
  /** 0: any free port (see `ListeningHost.port`). */
  port: number;
  /** Clients must send `Authorization: Bearer <token>`; others are refused before the upgrade. */
  token?: string;
  /** PEM certificate and key: serve `wss://` (and https for the probes). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Connections open at once; beyond it the upgrade is refused with 503. Default 256. */
  maxConnections?: number;
  /** Sessions one connection may have at once (ERR_LIMIT_EXCEEDED beyond). Default 1 024. */
  maxSessionsPerConnection?: number;
  /** The largest message a client may send; a larger one closes its connection (1009). Default 64 MiB. */
  maxMessageBytes?: number;
  /** How much a client may leave unread before its connection is given up. Default 64 MiB. */
  maxQueuedBytes?: number;
  /**
   * How long messages may wait while a client reads none of them before its connection is given up
   * (its sessions shut down). Default 5 s.
   */
  maxStallMs?: number;
  /** Cells one connection's sessions may have live at once (ERR_LIMIT_EXCEEDED beyond). Default 1 024. */
  maxLiveCellsPerConnection?: number;
  /**
   * MiB every connection's cells may hold at once, over all connections (each cell reserves its
   * memoryMb plus ~40 MiB while it lives); past it cells and new sessions are refused with
   * ERR_LIMIT_EXCEEDED ("go elsewhere"). Default: the process's memory limit (its cgroup's, else
   * the machine's) less 256 MiB.
   */
  memoryBudgetMb?: number;
  /** Session limits where a session sets none (over DEFAULT_LIMITS: 60 s CPU, 10 min wall per cell). */
  defaultLimits?: Partial<CellLimits>;
  logger?: Logger;
  caps?: Partial<CellLimits>;
  callbackAbortDeadlineMs?: number;
  onCatastrophicError?: (message: string, noticeSent: Promise<void>) => void;
}

export interface ListeningHost {
  /** `ws://<host>:<port>` (or `wss://`), with the port actually bound. */
  readonly url: string;
  readonly port: number;
  readonly stats: HostStats;
  /** Stops accepting sessions, serves the running ones up to `graceMs`, then closes (see close). */
  drain(graceMs: number): Promise<void>;
  /** Shuts every session down (under the shared deadline), closes every connection and the port. */
  close(): Promise<void>;
}

export const LISTEN_DEFAULTS = {
  maxConnections: 256,
  maxSessionsPerConnection: 1_024,
  maxLiveCellsPerConnection: 1_024,
  maxMessageBytes: 64 * 1024 * 1024,
  maxStallMs: 5_000,
  /** A served host's cap on a cell's journalMaxBytes (what a replayed or restored cell may bring). */
  maxJournalBytes: 16 * 1024 * 1024,
} as const;

/** How often a connected client is pinged; one that missed the previous ping is dropped. */
const HEARTBEAT_MS = 30_000;

export async function listen(options: ListenOptions): Promise<ListeningHost> {
  const {
    logger = consoleLogger,
    maxConnections = LISTEN_DEFAULTS.maxConnections,
    maxMessageBytes = LISTEN_DEFAULTS.maxMessageBytes,
  } = options;
  checkCounts(options);
  const stats = new HostStats();
  // One budget for the process: the per-connection caps alone do not bound it.
  const isolatePool = new IsolatePool({ memoryBudgetMb: options.memoryBudgetMb ?? defaultMemoryBudgetMb() });
  const connections = new Map<WebSocket, Host>();
  const metrics: HostMetrics = hostMetrics(stats, () => connections.size);
  const expected = options.token === undefined ? undefined : new BearerToken(options.token);
  const sockets = new WebSocketServer({ noServer: true, maxPayload: maxMessageBytes, perMessageDeflate: false });

  const server: Server =
    options.tls === undefined
      ? createHttpServer()
      : createHttpsServer({ cert: options.tls.cert, key: options.tls.key });
  server.on(
    'request',
    (request: IncomingMessage, response: ServerResponse) => void probe(request, response, stats, metrics),
  );
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const refusal = refuse(request, expected, stats, connections.size, maxConnections);
    if (refusal !== undefined) {
      const from = request.socket.remoteAddress ?? '?';
      logger.warn(`codecell-host: refused a connection from ${from}: ${refusal.status} ${refusal.body}`);
      return writeRefusal(socket, refusal);
    }
    sockets.handleUpgrade(request, socket, head, (ws) =>
      serveSocket(ws, socket, { ...options, isolatePool }, stats, connections),
    );
  });

  await bind(server, options.port, options.host);
  server.on('error', (error) => logger.error(`codecell-host: ${messageOf(error)}`));
  const { port } = server.address() as AddressInfo;
  const name = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `${options.tls === undefined ? 'ws' : 'wss'}://${name}:${port}`;

  let closing: Promise<void> | undefined;
  const close = (drained = false): Promise<void> => {
    stats.accepting = false;
    closing ??= closeAll(server, sockets, connections, drained);
    return closing;
  };
  const drain = async (graceMs: number): Promise<void> => {
    stats.accepting = false;
    // Clients that hand off move their sessions elsewhere meanwhile (host/draining).
    for (const host of connections.values()) host.draining(graceMs);
    const until = performance.now() + graceMs;
    while (stats.sessions > 0 && performance.now() < until)
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(1, until - performance.now()))));
    await close(true);
  };
  return { url, port, stats, drain, close: () => close() };
}

/** One client's connection: a codecell-host connection of its own, pinged every HEARTBEAT_MS. */
function serveSocket(
  ws: WebSocket,
  stream: Duplex,
  options: ListenOptions & { isolatePool: IsolatePool },
  stats: HostStats,
  connections: Map<WebSocket, Host>,
): void {
  const logger = options.logger ?? consoleLogger;
  ws.on('error', (error) => logger.warn(`codecell-host: a connection failed: ${error.message}`));
  const { maxQueuedBytes, callbackAbortDeadlineMs, onCatastrophicError } = options;
  // Served, a cell's journal is capped: what a client may bring in a replay or a restore is bounded.
  const caps = { journalMaxBytes: LISTEN_DEFAULTS.maxJournalBytes, ...options.caps };
  const host = createHost({
    maxMessageBytes: options.maxMessageBytes ?? LISTEN_DEFAULTS.maxMessageBytes,
    carrier: socketCarrier(ws, stream),
    logger,
    stats,
    maxSessions: options.maxSessionsPerConnection ?? LISTEN_DEFAULTS.maxSessionsPerConnection,
    maxLiveCells: options.maxLiveCellsPerConnection ?? LISTEN_DEFAULTS.maxLiveCellsPerConnection,
    ...(options.defaultLimits === undefined ? {} : { defaultLimits: options.defaultLimits }),
    isolatePool: options.isolatePool,
    caps,
    ...(maxQueuedBytes === undefined ? {} : { maxQueuedBytes }),
    maxStallMs: options.maxStallMs ?? LISTEN_DEFAULTS.maxStallMs,
    ...(callbackAbortDeadlineMs === undefined ? {} : { callbackAbortDeadlineMs }),
    ...(onCatastrophicError === undefined ? {} : { onCatastrophicError }),
  });
  connections.set(ws, host);
  let alive = true;
  ws.on('pong', () => (alive = true));
  const heartbeat = setInterval(() => {
    if (!alive) ws.terminate();
    alive = false;
    ws.ping();
  }, HEARTBEAT_MS).unref();
  void host.closed.then(() => {
    clearInterval(heartbeat);
    connections.delete(ws);
    ws.close(1001, 'codecell-host closed the connection');
  });
}

function bind(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Closes every connection (its sessions shut down; `drained`: at the end of a drain), then the server. */
async function closeAll(
  server: Server,
  sockets: WebSocketServer,
  connections: Map<WebSocket, Host>,
  drained: boolean,
): Promise<void> {
  await Promise.all([...connections.values()].map((host) => host.close({ drained })));
  sockets.close();
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function checkCounts(options: ListenOptions): void {
  checkCount(options.maxConnections ?? 1, 'maxConnections');
  checkCount(options.maxMessageBytes ?? 1, 'maxMessageBytes');
  checkCount(options.maxSessionsPerConnection ?? 1, 'maxSessionsPerConnection');
  checkCount(options.maxLiveCellsPerConnection ?? 1, 'maxLiveCellsPerConnection');
  checkCount(options.memoryBudgetMb ?? 1, 'memoryBudgetMb');
  checkCount(options.maxQueuedBytes ?? 1, 'maxQueuedBytes');
  checkCount(options.maxStallMs ?? 1, 'maxStallMs');
}

function checkCount(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new CodeCellError('ERR_INVALID_REQUEST', `${name} must be a positive integer, got ${String(value)}`);
}

interface Refusal {
  status: 401 | 503;
  body: string;
}

/** Why an upgrade is refused, if it is: the token first (compared in constant time), then capacity. */
function refuse(
  request: IncomingMessage,
  expected: BearerToken | undefined,
  stats: HostStats,
  open: number,
  maxConnections: number,
): Refusal | undefined {
  if (expected !== undefined && !expected.accepts(request.headers.authorization))
    return { status: 401, body: 'a valid bearer token is required' };
  if (!stats.accepting) return { status: 503, body: 'codecell-host is draining: connect to another host' };
  if (open >= maxConnections)
    return { status: 503, body: `codecell-host has ${maxConnections} connections open (its --max-connections)` };
  return undefined;
}

function writeRefusal(socket: Duplex, { status, body }: Refusal): void {
  const reason = status === 401 ? 'Unauthorized' : 'Service Unavailable';
  const extra = status === 401 ? 'WWW-Authenticate: Bearer\r\n' : 'Retry-After: 1\r\n';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: ` +
      `text/plain\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** GET /healthz (alive), /readyz (accepting sessions), /metrics (Prometheus text); nothing else. */
async function probe(
  request: IncomingMessage,
  response: ServerResponse,
  stats: HostStats,
  metrics: HostMetrics,
): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  const reply = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
    response.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    response.end(request.method === 'HEAD' ? undefined : body);
  };
  if (request.method !== 'GET' && request.method !== 'HEAD') return reply(405, 'method not allowed\n');
  if (path === '/healthz') return reply(200, 'ok\n');
  if (path === '/readyz') return stats.accepting ? reply(200, 'ready\n') : reply(503, 'draining\n');
  if (path === '/metrics') {
    try {
      return reply(200, await metrics.text(), metrics.contentType);
    } catch (error) {
      return reply(500, `metrics failed: ${messageOf(error)}\n`);
    }
  }
  return reply(404, 'not found: codecell-host serves WebSocket upgrades, /healthz, /readyz and /metrics\n');
}
