// HostClient: runs codecell-host as a child process and offers each of its sessions through the
// same CodeCellSession interface as the in-process SessionRuntime.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CellStreams } from '../src/cell-streams.js';
import { consoleLogger } from '../src/logger.js';
import { CodeCellError, messageOf } from '../src/errors.js';
import { CODECELL_VERSION } from '../src/defaults.js';
import type { CellLimits } from '../src/limits.js';
import { PendingRouter, type RoutedEntry } from '../src/pending-router.js';
import type {
  CellEvent,
  CellId,
  CellStreamEvent,
  CodeCellSession,
  ExecuteRequest,
  Logger,
  ObserveMode,
  PendingEvent,
  SessionRuntimeDelegate,
  StartedCell,
  ToolDefinition,
} from '../src/types.js';
import { checkDelegate } from '../src/validate.js';
import {
  fromResponseError,
  openConnection,
  ResponseError,
  signalFromToken,
  tokenFromSignal,
  type CancellationToken,
  type MessageConnection,
} from './jsonrpc.js';
import {
  JsonRpcErrors,
  Methods,
  PROTOCOL_VERSION,
  type CellClosedParams,
  type CellEventParams,
  type CellExecuteResult,
  type CellNotifyParams,
  type InitializeResult,
  type SessionCreateResult,
  type SessionId,
  type ToolInvokeParams,
} from './protocol.js';

export interface HostClientOptions {
  /** The host command; default: this Node binary running codecell-host. */
  command?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Start a fresh host on the next createSession after the host died. Default true. */
  respawn?: boolean;
  /** Where the host's stderr goes. Default 'inherit'. */
  stderr?: 'inherit' | 'ignore' | 'pipe';
  logger?: Logger;
}

export interface RemoteSessionOptions {
  tools?: ToolDefinition[];
  limits?: Partial<CellLimits>;
  storedValues?: 'enabled' | 'disabled';
  /** Runs as the session's first cell while the session is being created (SPEC §8). */
  setupSource?: string;
}

/** A delegate failure crosses the wire as this implementation-defined JSON-RPC error. */
const DELEGATE_FAILED = -32000;
const HOST_MAIN = fileURLToPath(new URL('./main.js', import.meta.url));


type InboundRequest = {
  method: typeof Methods.toolInvoke | typeof Methods.cellNotify;
  params: ToolInvokeParams | CellNotifyParams;
  token: CancellationToken;
  resolve(value: unknown): void;
  reject(error: unknown): void;
};
type InboundNotification =
  | { method: typeof Methods.cellEvent; params: CellEventParams }
  | { method: typeof Methods.cellClosed; params: CellClosedParams };
type Inbound = RoutedEntry<InboundNotification, InboundRequest>;

function sessionIdOf(params: unknown): string {
  const id = (params as { sessionId?: unknown } | null)?.sessionId;
  if (typeof id !== 'string') throw new ResponseError(JsonRpcErrors.invalidParams, 'params.sessionId must be a string');
  return id;
}

/** One connection to one host process (or to an in-process host over streams). */
class HostLink {
  readonly connection: MessageConnection;
  readonly child: ChildProcess | undefined;
  readonly logger: Logger;
  /**
   * Route host messages to sessions whose id the client may not have learned yet: delegate
   * traffic (tool/invoke, cell/notify, cell/closed) and stream traffic (cell/event) separately,
   * so a chatty cell's events can never evict a held tool call.
   */
  readonly sessions: PendingRouter<SessionId, InboundNotification, InboundRequest>;
  readonly sessionEvents: PendingRouter<SessionId, InboundNotification, never>;
  readonly remotes = new Map<SessionId, RemoteSession>();
  limits: CellLimits | undefined;
  readonly #pending = new Set<(error: CodeCellError) => void>();
  readonly #inbound = new Set<(reason: CodeCellError) => void>();
  #death: CodeCellError | undefined;
  readonly #exited: Promise<void>;
  #markExited: () => void = () => {};

  constructor(input: Readable, output: Writable, child: ChildProcess | undefined, logger: Logger) {
    this.child = child;
    this.logger = logger;
    this.sessions = new PendingRouter({ label: 'session', logger });
    this.sessionEvents = new PendingRouter({ label: 'session', logger });
    this.#exited = new Promise((resolve) => {
      this.#markExited = resolve;
    });
    this.connection = openConnection(input, output, logger).connection;
    const inboundRequest = (method: InboundRequest['method']) => (params: unknown, token: CancellationToken) =>
      new Promise((resolve, reject) => {
        const sessionId = sessionIdOf(params);
        const message = { method, params, token, resolve, reject } as InboundRequest;
        this.sessions.route(sessionId, {
          type: 'request',
          message,
          fail: (failure) => reject(new ResponseError(failure.code, failure.message)),
        });
      });
    this.connection.onRequest(Methods.toolInvoke, inboundRequest(Methods.toolInvoke));
    this.connection.onRequest(Methods.cellNotify, inboundRequest(Methods.cellNotify));
    for (const [method, router] of [[Methods.cellEvent, this.sessionEvents], [Methods.cellClosed, this.sessions]] as const) {
      this.connection.onNotification(method, (params: unknown) => {
        try {
          router.routeNotification(sessionIdOf(params), { method, params } as InboundNotification);
        } catch (error) {
          logger.warn(`codecell: ignored ${method}: ${messageOf(error)}`);
        }
      });
    }
    this.connection.onClose(() => {
      const closed = new CodeCellError('ERR_HOST_EXITED', 'codecell-host closed the connection');
      if (child === undefined) {
        this.die(closed);
        return;
      }
      // The process's exit status usually follows its stdout's end; give it a moment to arrive.
      setTimeout(() => this.die(closed), 250).unref();
    });
    this.connection.listen();
  }

  get alive(): boolean {
    return this.#death === undefined;
  }

  /** A request to the host; rejects with ERR_HOST_EXITED if the host dies first. */
  request<R>(method: string, params: unknown, signal?: AbortSignal): Promise<R> {
    if (this.#death !== undefined) return Promise.reject(this.#death);
    return new Promise<R>((resolve, reject) => {
      const { token, dispose } = tokenFromSignal(signal);
      const onDeath = (error: CodeCellError): void => reject(error);
      this.#pending.add(onDeath);
      // vscode-jsonrpc reads a trailing undefined as one more parameter: pass a token only if any.
      const sent = token === undefined ? this.connection.sendRequest<R>(method, params) : this.connection.sendRequest<R>(method, params, token);
      sent
        .then(resolve, (error: unknown) => reject(this.#death ?? fromResponseError(error)))
        .finally(() => {
          this.#pending.delete(onDeath);
          dispose();
        });
    });
  }

  /** Serves a host request with the session's delegate, with an AbortSignal of its own. */
  serve(delegate: SessionRuntimeDelegate, request: InboundRequest): void {
    const cancelled = signalFromToken(request.token, () => new CodeCellError('ERR_CANCELLED', 'codecell-host cancelled the callback'));
    this.#inbound.add(cancelled.abort);
    Promise.resolve()
      .then(async () => {
        if (request.method === Methods.toolInvoke) {
          const { call } = request.params as ToolInvokeParams;
          return (await delegate.invokeTool(call, cancelled.signal)) ?? null;
        }
        const { notification } = request.params as CellNotifyParams;
        await delegate.notify(notification, cancelled.signal);
        return {};
      })
      .then(request.resolve, (error: unknown) => request.reject(new ResponseError(DELEGATE_FAILED, messageOf(error))))
      .finally(() => {
        this.#inbound.delete(cancelled.abort);
        cancelled.dispose();
      });
  }

  async initialize(): Promise<void> {
    const result = await this.request<InitializeResult>(Methods.initialize, {
      protocolVersion: PROTOCOL_VERSION,
      clientInfo: { name: 'codecell HostClient', version: CODECELL_VERSION },
    });
    this.limits = result.limits;
  }

  async createSession(delegate: SessionRuntimeDelegate, options: RemoteSessionOptions): Promise<RemoteSession> {
    // Held until the session is registered: what the host sends for it meanwhile is kept.
    using _requests = this.sessions.begin();
    using _events = this.sessionEvents.begin();
    const result = await this.request<SessionCreateResult>(Methods.sessionCreate, options);
    const session = new RemoteSession(this, result.sessionId, delegate, result.setupEvent);
    // The setup cell's events may already be held for the session: hold them for its stream.
    if (result.setupCellId !== undefined) session.trackCell(result.setupCellId, session.beginCell());
    this.remotes.set(result.sessionId, session);
    this.sessionEvents.register(result.sessionId, (entry) => session.receive(entry));
    this.sessions.register(result.sessionId, (entry) => session.receive(entry));
    return session;
  }

  forget(sessionId: SessionId): void {
    this.remotes.delete(sessionId);
    this.sessions.unregister(sessionId);
    this.sessionEvents.unregister(sessionId);
  }

  /** The host is gone: every pending call rejects, every delegate signal aborts. */
  die(error: CodeCellError): void {
    if (this.#death !== undefined) return;
    this.#death = error;
    for (const reject of this.#pending) reject(error);
    this.#pending.clear();
    for (const abort of this.#inbound) abort(error);
    this.#inbound.clear();
    for (const session of this.remotes.values()) session.hostDied();
    this.remotes.clear();
    this.connection.dispose();
    if (this.child === undefined) this.#markExited();
  }

  exited(): void {
    this.#markExited();
  }

  async close(): Promise<void> {
    if (this.child !== undefined) {
      this.child.stdin?.end();
      const timer = setTimeout(() => this.child?.kill('SIGKILL'), 5_000);
      await this.#exited;
      clearTimeout(timer);
    } else {
      this.die(new CodeCellError('ERR_HOST_EXITED', 'the client closed the connection'));
    }
  }
}

/** A session of codecell-host, with the same interface as SessionRuntime. */
export class RemoteSession implements CodeCellSession {
  readonly sessionId: SessionId;
  /** The setup cell's first event, when the session was created with `setupSource`. */
  readonly setupEvent: CellEvent | undefined;
  readonly #link: HostLink;
  readonly #delegate: SessionRuntimeDelegate;
  readonly #streams: CellStreams;
  readonly #observing = new Set<CellId>();
  #shutdown: Promise<void> | undefined;
  #hostDead = false;

  constructor(link: HostLink, sessionId: SessionId, delegate: SessionRuntimeDelegate, setupEvent: CellEvent | undefined) {
    this.#link = link;
    this.sessionId = sessionId;
    this.#delegate = delegate;
    this.setupEvent = setupEvent;
    this.#streams = new CellStreams({ logger: link.logger, retainClosed: 64 });
  }

  get isAlive(): boolean {
    return this.#shutdown === undefined && !this.#hostDead;
  }

  async execute(request: ExecuteRequest, initialObserve?: ObserveMode): Promise<StartedCell> {
    this.#assertUsable();
    const guard = this.#streams.begin();
    let result: CellExecuteResult;
    try {
      result = await this.#link.request<CellExecuteResult>(Methods.cellExecute, { sessionId: this.sessionId, request, observe: initialObserve });
    } catch (error) {
      guard.release();
      throw error;
    }
    this.#streams.track(result.cellId, guard);
    return { cellId: result.cellId, initialEvent: Promise.resolve(result.event) };
  }

  async observe(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<CellEvent> {
    const { event } = await this.beginObserve(cellId, mode, signal);
    return event;
  }

  async beginObserve(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<PendingEvent> {
    this.#assertCellUsable(cellId);
    // Every observer of this session's cells goes through this client, so busy is known here.
    if (this.#observing.has(cellId)) {
      throw new CodeCellError('ERR_BUSY_OBSERVER', `cell ${cellId} already has an active observer`);
    }
    this.#observing.add(cellId);
    const event = this.#link
      .request<CellEvent>(Methods.cellObserve, { sessionId: this.sessionId, cellId, mode }, signal)
      .finally(() => this.#observing.delete(cellId));
    return { event };
  }

  async terminate(cellId: CellId): Promise<CellEvent> {
    this.#assertCellUsable(cellId);
    return this.#link.request<CellEvent>(Methods.cellTerminate, { sessionId: this.sessionId, cellId });
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      try {
        if (!this.#hostDead) await this.#link.request(Methods.sessionShutdown, { sessionId: this.sessionId });
      } catch (error) {
        if (!(error instanceof CodeCellError && error.code === 'ERR_HOST_EXITED')) throw error;
      } finally {
        this.#streams.endAll();
        this.#link.forget(this.sessionId);
      }
    })();
    return this.#shutdown;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  events(cellId: CellId): AsyncIterable<CellStreamEvent> {
    return this.#streams.subscribe(cellId);
  }

  // --- used by HostLink ---

  beginCell(): ReturnType<CellStreams['begin']> {
    return this.#streams.begin();
  }

  trackCell(cellId: CellId, guard: ReturnType<CellStreams['begin']>): void {
    this.#streams.track(cellId, guard);
  }

  receive(entry: Inbound): void {
    if (entry.type === 'request') {
      this.#link.serve(this.#delegate, entry.message);
      return;
    }
    const { method, params } = entry.message;
    if (method === Methods.cellEvent) {
      this.#streams.emit(params.cellId, params.event);
    } else {
      Promise.resolve()
        .then(() => this.#delegate.cellClosed?.(params.cellId))
        .catch((error: unknown) => this.#link.logger.warn(`codecell: cellClosed(${params.cellId}) threw: ${messageOf(error)}`));
    }
  }

  hostDied(): void {
    this.#hostDead = true;
    this.#streams.endAll();
  }

  #assertUsable(): void {
    if (this.#hostDead) throw new CodeCellError('ERR_HOST_EXITED', 'codecell-host of this session has exited');
    if (this.#shutdown !== undefined) throw new CodeCellError('ERR_SHUTTING_DOWN', 'the session is shutting down');
  }

  #assertCellUsable(cellId: unknown): void {
    if (typeof cellId !== 'string' || cellId === '') throw new CodeCellError('ERR_INVALID_REQUEST', 'cellId must be a non-empty string');
    if (this.#hostDead) throw new CodeCellError('ERR_MISSING_CELL', `unknown cell ${cellId} (its host has exited)`);
  }
}

/** Starts and supervises codecell-host; creates sessions on it. */
export class HostClient {
  readonly #options: HostClientOptions;
  readonly #connect: () => HostLink;
  #link: HostLink | undefined;
  #closed = false;

  private constructor(options: HostClientOptions, connect: () => HostLink) {
    this.#options = options;
    this.#connect = connect;
  }

  /** Spawns `codecell-host` (or `options.command`) and initializes it. */
  static async spawn(options: HostClientOptions = {}): Promise<HostClient> {
    const logger = options.logger ?? consoleLogger;
    const client = new HostClient(options, () => {
      const child = spawn(options.command ?? process.execPath, options.args ?? ['--no-node-snapshot', HOST_MAIN], {
        stdio: ['pipe', 'pipe', options.stderr ?? 'inherit'],
        env: options.env ?? process.env,
      });
      const link = new HostLink(child.stdout as Readable, child.stdin as Writable, child, logger);
      child.on('error', (error) => link.die(new CodeCellError('ERR_HOST_EXITED', `codecell-host failed to start: ${error.message}`, { cause: error })));
      child.on('exit', (code, signal) => {
        link.die(new CodeCellError('ERR_HOST_EXITED', `codecell-host exited (code ${code ?? 'none'}, signal ${signal ?? 'none'})`));
        link.exited();
      });
      return link;
    });
    await client.#start();
    return client;
  }

  /** Talks to a host over existing streams (e.g. an in-process host in tests). Never respawns. */
  static async connect(input: Readable, output: Writable, options: Omit<HostClientOptions, 'command' | 'args' | 'env' | 'respawn'> = {}): Promise<HostClient> {
    let used = false;
    const client = new HostClient({ ...options, respawn: false }, () => {
      if (used) throw new CodeCellError('ERR_HOST_EXITED', 'the in-process host connection has ended');
      used = true;
      return new HostLink(input, output, undefined, options.logger ?? consoleLogger);
    });
    await client.#start();
    return client;
  }

  /** The current host process id (undefined for a stream connection). */
  get pid(): number | undefined {
    return this.#link?.child?.pid;
  }

  /** The host-wide limits reported by `initialize`. */
  get limits(): CellLimits | undefined {
    return this.#link?.limits;
  }

  get isConnected(): boolean {
    return this.#link?.alive === true;
  }

  async createSession(delegate: SessionRuntimeDelegate, options: RemoteSessionOptions = {}): Promise<RemoteSession> {
    checkDelegate(delegate);
    if (this.#closed) throw new CodeCellError('ERR_SHUTTING_DOWN', 'the HostClient is closed');
    if (this.#link === undefined || !this.#link.alive) {
      if (this.#options.respawn === false) throw new CodeCellError('ERR_HOST_EXITED', 'codecell-host has exited and respawn is off');
      await this.#start();
    }
    const link = this.#link;
    if (link === undefined) throw new CodeCellError('ERR_HOST_EXITED', 'codecell-host is not running');
    return link.createSession(delegate, options);
  }

  /** Ends the host: its sessions are shut down and it exits. Harmless twice. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#link?.close();
  }

  async #start(): Promise<void> {
    const link = this.#connect();
    this.#link = link;
    await link.initialize();
  }
}
