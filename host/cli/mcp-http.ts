// `codecell mcp --http <host>:<port>`: MCP over Streamable HTTP (the official SDK's transport) at
// /mcp. Each MCP session (Mcp-Session-Id) is its own MCP server and codecell session; sessions
// are bounded in number (reserved before anything is awaited) and closed after an idle period
// during which no request or stream of theirs was open. Before any session is touched: the Host
// and Origin headers are checked against the bound address and the loopback names whenever no
// token is required or the address is loopback (DNS-rebinding protection; without a token only
// loopback may be bound: mcp.ts), and a bearer token when one was given. A POST without a
// session that is a 2026-07-28 request (its revision in `_meta`) goes to the stateless leg
// (mcp-modern.ts) instead; initialize and the requests of a session stay here.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { messageOf } from '../../src/internal.js';
import { BearerToken } from '../wire/bearer.js';
import type { ModernMcp } from './mcp-modern.js';
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
  /** When its last request or stream ended. */
  lastSeen: number;
  /** Its requests and streams open now: it is never idle while one is. */
  active: number;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** An address only this machine reaches: localhost, 127.0.0.0/8, ::1. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The names a Host or Origin may give for this server: the bound address and, on loopback, the loopback names. */
function allowedNames(bound: string): Set<string> {
  const names = new Set([bound, bound.includes(':') ? `[${bound}]` : bound]);
  if (isLoopback(bound)) for (const name of LOOPBACK) names.add(name);
  return names;
}

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
  if (token === undefined || isLoopback(options.host)) {
    const allowed = allowedNames(options.host);
    const host = request.headers.host ?? '';
    if (!allowed.has(hostnameOf(host)) || (host.includes(':') && !host.endsWith(`:${port}`)))
      return [403, `Host ${JSON.stringify(host)} is not this server (DNS-rebinding protection)`];
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== 'null') {
      let hostname = '';
      try {
        hostname = new URL(origin).hostname;
      } catch {
        // not a URL: refused below
      }
      if (!allowed.has(hostname))
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

export async function serveMcpHttp(
  context: McpContext,
  options: McpHttpOptions,
  modern?: ModernMcp,
): Promise<McpHttpServer> {
  const sessions = new McpHttpSessions(context, options, modern);
  const server = createServer((request, response) => {
    sessions.handle(request, response).catch((error: unknown) => {
      options.warn(`codecell mcp: a request failed: ${messageOf(error)}`);
      if (!response.headersSent) replyError(response, 500, 'internal error');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  sessions.port = (server.address() as AddressInfo).port;
  const sweep = setInterval(() => sessions.expire(), Math.max(50, Math.min(60_000, Math.floor(options.idleMs / 4))));
  sweep.unref();
  const name = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${name}:${sessions.port}/mcp`,
    close: async () => {
      clearInterval(sweep);
      await sessions.closeAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The MCP sessions of the endpoint, one transport and codecell session each, by Mcp-Session-Id. */
class McpHttpSessions {
  readonly #context: McpContext;
  readonly #options: McpHttpOptions;
  readonly #token: BearerToken | undefined;
  readonly #sessions = new Map<string, Entry>();
  /** 2026-07-28's stateless requests, all of them sharing one codecell session (without MCP SDK v2: none). */
  readonly #modern: ModernMcp | undefined;
  /** Sessions being opened (their initialize in flight): they count against maxSessions at once. */
  #opening = 0;
  /** The port the server listens on (Host headers must name it). */
  port: number;

  constructor(context: McpContext, options: McpHttpOptions, modern: ModernMcp | undefined) {
    this.#context = context;
    this.#options = options;
    this.#token = options.token === undefined ? undefined : new BearerToken(options.token);
    this.port = options.port;
    this.#modern = modern;
  }

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if ((request.url ?? '').split('?')[0] !== '/mcp')
      return replyError(response, 404, 'not found: the MCP endpoint is /mcp');
    const refused = refusal(request, this.#options, this.port, this.#token);
    if (refused !== undefined) return replyError(response, ...refused);
    const id = request.headers['mcp-session-id'];
    if (typeof id === 'string') {
      const entry = this.#sessions.get(id);
      if (entry === undefined) return replyError(response, 404, `unknown or expired MCP session ${id}`);
      // Idle time counts only while none of its requests or streams (an exec, a wait, SSE) is open.
      entry.active++;
      response.once('close', () => {
        entry.active--;
        entry.lastSeen = performance.now();
      });
      return entry.transport.handleRequest(request, response);
    }
    if (request.method !== 'POST')
      return replyError(response, 400, 'no Mcp-Session-Id: start a session with initialize');
    const modern = this.#modern;
    if (modern === undefined) return this.#reserve(request, response, undefined);
    const body = await bodyOf(request);
    if (body === undefined) return replyError(response, 413, `a request body is at most ${MAX_BODY_BYTES} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      // Not JSON: the stateless leg answers it with a parse error.
    }
    const web = webRequest(request, body, response);
    if (parsed === undefined || (await modern.isModern(web, parsed))) return sendWeb(await modern.fetch(web), response);
    return this.#reserve(request, response, parsed);
  }

  /** A 2025-era request without a session, its body read (or not yet: undefined) and parsed. */
  async #reserve(request: IncomingMessage, response: ServerResponse, parsed: unknown): Promise<void> {
    // Reserved before anything is awaited, so concurrent initializes cannot pass the bound together.
    if (this.#sessions.size + this.#opening >= this.#options.maxSessions)
      return replyError(response, 503, `codecell mcp has ${this.#options.maxSessions} MCP sessions open`);
    this.#opening++;
    try {
      return await this.#open(request, response, parsed);
    } finally {
      this.#opening--;
    }
  }

  /** A request without a session: an initialize opens one; anything else leaves nothing behind. */
  async #open(request: IncomingMessage, response: ServerResponse, body: unknown): Promise<void> {
    // A cancelled call's response is ended by its stream (the SDK sends nothing for it).
    const session = newMcpSession(this.#context, { endResponse: (requestId) => opened.closeSSEStream(requestId) });
    const opened: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sessionId) =>
        void this.#sessions.set(sessionId, { transport: opened, session, lastSeen: performance.now(), active: 0 }),
      onsessionclosed: (sessionId) => void this.close(sessionId),
    });
    await session.server.connect(opened);
    await opened.handleRequest(request, response, body);
    if (opened.sessionId === undefined || !this.#sessions.has(opened.sessionId)) {
      await opened.close().catch(() => {});
      await session.close().catch(() => {});
    }
  }

  async close(id: string): Promise<void> {
    const entry = this.#sessions.get(id);
    if (entry === undefined) return;
    this.#sessions.delete(id);
    await entry.transport.close().catch(() => {});
    await entry.session.close().catch(() => {});
  }

  /** Closes the sessions idle for longer than idleMs. */
  expire(): void {
    const now = performance.now();
    for (const [id, entry] of this.#sessions)
      if (entry.active === 0 && now - entry.lastSeen > this.#options.idleMs) void this.close(id);
  }

  closeAll(): Promise<unknown> {
    return Promise.all([...[...this.#sessions.keys()].map((id) => this.close(id)), this.#modern?.close()]);
  }
}

/** The most a request body may hold (as MCP SDK v2's own bound). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The request's body, or undefined past MAX_BODY_BYTES. */
async function bodyOf(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A web Request for Node's, aborted when the client goes away before its answer was sent. */
function webRequest(request: IncomingMessage, body: Buffer, response: ServerResponse): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers))
    for (const each of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, each);
  const gone = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) gone.abort(new Error('the client closed the request'));
  });
  const url = `http://${request.headers.host ?? 'localhost'}${request.url ?? '/mcp'}`;
  return new Request(url, { method: request.method ?? 'POST', headers, body, signal: gone.signal });
}

/** Sends a web Response (JSON or an SSE stream) as Node's. */
async function sendWeb(answer: Response, response: ServerResponse): Promise<void> {
  response.writeHead(answer.status, Object.fromEntries(answer.headers));
  if (answer.body === null) return void response.end();
  const reader = answer.body.getReader();
  response.once('close', () => void reader.cancel().catch(() => {}));
  for (;;) {
    const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
    if (done) break;
    if (!response.write(value)) await new Promise((resolve) => response.once('drain', resolve));
  }
  response.end();
}
