// `codecell mcp --http <host>:<port>`: MCP over Streamable HTTP (the official SDK's transport) at
// /mcp. Each MCP session (Mcp-Session-Id) is its own MCP server and codecell session; sessions
// are bounded in number and closed after an idle period. Before any session is touched: the
// Host and Origin headers are checked against the loopback names when the server listens on
// loopback (DNS-rebinding protection), and a bearer token when one was given.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { messageOf } from '../../src/internal.js';
import { BearerToken } from '../wire/bearer.js';
import { newMcpSession, type McpContext, type McpSession } from './mcp-server.js';

export interface McpHttpOptions {
  host: string;
  port: number;
  token?: string;
  /** MCP sessions open at once; beyond, initialize is refused with 503. */
  maxSessions: number;
  /** A session without a request for this long is closed. */
  idleMs: number;
  /** Where problems are reported. */
  warn(message: string): void;
}

export interface McpHttpServer {
  /** `http://<host>:<port>/mcp` with the port bound. */
  readonly url: string;
  close(): Promise<void>;
}

interface Entry {
  transport: StreamableHTTPServerTransport;
  session: McpSession;
  lastSeen: number;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

function hostnameOf(host: string): string {
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : (host.split(':')[0] ?? '');
}

/** Why a request is refused before it reaches a session, if it is. */
function refusal(
  request: IncomingMessage,
  options: McpHttpOptions,
  port: number,
  token: BearerToken | undefined,
): [number, string] | undefined {
  if (LOOPBACK.has(options.host)) {
    const host = request.headers.host ?? '';
    if (!LOOPBACK.has(hostnameOf(host)) || (host.includes(':') && !host.endsWith(`:${port}`)))
      return [403, `Host ${JSON.stringify(host)} is not this server (DNS-rebinding protection)`];
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== 'null') {
      let hostname = '';
      try {
        hostname = new URL(origin).hostname;
      } catch {
        // not a URL: refused below
      }
      if (!LOOPBACK.has(hostname))
        return [403, `Origin ${JSON.stringify(origin)} may not use this server (DNS-rebinding protection)`];
    }
  }
  if (token !== undefined && !token.accepts(request.headers.authorization))
    return [401, 'a valid bearer token is required'];
  return undefined;
}

function replyError(response: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
  response.writeHead(status, {
    'Content-Type': 'application/json',
    ...(status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {}),
  });
  response.end(body);
}

export async function serveMcpHttp(context: McpContext, options: McpHttpOptions): Promise<McpHttpServer> {
  const sessions = new Map<string, Entry>();
  const token = options.token === undefined ? undefined : new BearerToken(options.token);
  let port = options.port;

  const closeEntry = async (id: string): Promise<void> => {
    const entry = sessions.get(id);
    if (entry === undefined) return;
    sessions.delete(id);
    await entry.transport.close().catch(() => {});
    await entry.session.close().catch(() => {});
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    if ((request.url ?? '').split('?')[0] !== '/mcp')
      return replyError(response, 404, 'not found: the MCP endpoint is /mcp');
    const refused = refusal(request, options, port, token);
    if (refused !== undefined) return replyError(response, ...refused);
    const id = request.headers['mcp-session-id'];
    if (typeof id === 'string') {
      const entry = sessions.get(id);
      if (entry === undefined) return replyError(response, 404, `unknown or expired MCP session ${id}`);
      entry.lastSeen = performance.now();
      return entry.transport.handleRequest(request, response);
    }
    if (request.method !== 'POST')
      return replyError(response, 400, 'no Mcp-Session-Id: start a session with initialize');
    if (sessions.size >= options.maxSessions)
      return replyError(response, 503, `codecell mcp has ${options.maxSessions} MCP sessions open`);
    const session = newMcpSession(context);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sessionId) =>
        void sessions.set(sessionId, { transport, session, lastSeen: performance.now() }),
      onsessionclosed: (sessionId) => void closeEntry(sessionId),
    });
    await session.server.connect(transport);
    await transport.handleRequest(request, response);
    // Not an initialize that opened a session: nothing of it stays.
    if (transport.sessionId === undefined || !sessions.has(transport.sessionId)) {
      await transport.close().catch(() => {});
      await session.close().catch(() => {});
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      options.warn(`codecell mcp: a request failed: ${messageOf(error)}`);
      if (!response.headersSent) replyError(response, 500, 'internal error');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const sweep = setInterval(
    () => {
      const now = performance.now();
      for (const [id, entry] of sessions) if (now - entry.lastSeen > options.idleMs) void closeEntry(id);
    },
    Math.max(50, Math.min(60_000, Math.floor(options.idleMs / 4))),
  );
  sweep.unref();
  const name = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${name}:${port}/mcp`,
    close: async () => {
      clearInterval(sweep);
      await Promise.all([...sessions.keys()].map((id) => closeEntry(id)));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
