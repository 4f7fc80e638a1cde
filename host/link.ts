// The client's end of one connection to codecell-host (a child process, or a host over streams):
// requests out, delegate requests and cell events in, routed to sessions through PendingRouters.
import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import {
  CodeCellError,
  PendingRouter,
  type CellLimits,
  type Logger,
  type RoutedEntry,
  type SessionRuntimeDelegate,
} from '../src/index.js';
import { CODECELL_VERSION, messageOf } from '../src/internal.js';
import {
  fromResponseError,
  onNotification,
  onRequest,
  openConnection,
  ResponseError,
  sendRequest,
  signalFromToken,
  tokenFromSignal,
  type CancellationToken,
  type MessageConnection,
} from './jsonrpc.js';
import {
  DelegateCalls,
  JsonRpcErrors,
  Methods,
  PROTOCOL_VERSION,
  type CellClosedParams,
  type CellEventParams,
  type DelegateCall,
  type DelegateCallName,
  type MethodSpec,
  type ParamsOf,
  type ResultOf,
  type SessionId,
} from './protocol.js';
import { RemoteSession, type RemoteSessionOptions } from './remote-session.js';

/** A delegate call from the host, waiting for its session's delegate. */
type InboundRequest = {
  name: DelegateCallName;
  /** The delegate method's argument (checked by the delegate's own contract, not here). */
  value: unknown;
  token: CancellationToken;
  resolve(value: unknown): void;
  reject(error: unknown): void;
};
type InboundNotification = { type: 'event'; params: CellEventParams } | { type: 'closed'; params: CellClosedParams };
export type Inbound = RoutedEntry<InboundNotification, InboundRequest>;

/** One connection to one host process (or to an in-process host over streams). */
export class HostLink {
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
    for (const [name, call] of Object.entries(DelegateCalls) as [DelegateCallName, DelegateCall][]) {
      onRequest(this.connection, call.method, ({ sessionId, [call.arg]: value }, token) =>
        new Promise((resolve, reject) => {
          this.sessions.route(sessionId, {
            type: 'request',
            message: { name, value, token, resolve, reject },
            fail: (failure) => reject(new ResponseError(failure.code, failure.message)),
          });
        }),
      );
    }
    onNotification(this.connection, Methods.cellEvent, (params) => this.sessionEvents.routeNotification(params.sessionId, { type: 'event', params }), logger);
    onNotification(this.connection, Methods.cellClosed, (params) => this.sessions.routeNotification(params.sessionId, { type: 'closed', params }), logger);
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
  request<M extends MethodSpec>(method: M, params: ParamsOf<M>, signal?: AbortSignal): Promise<ResultOf<M>> {
    if (this.#death !== undefined) return Promise.reject(this.#death);
    return new Promise<ResultOf<M>>((resolve, reject) => {
      const { token, dispose } = tokenFromSignal(signal);
      const onDeath = (error: CodeCellError): void => reject(error);
      this.#pending.add(onDeath);
      sendRequest(this.connection, method, params, token)
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
    // The table pairs each name with the delegate method of that name and its argument.
    const method = delegate[request.name] as (value: unknown, signal: AbortSignal) => unknown;
    const call: DelegateCall = DelegateCalls[request.name];
    Promise.resolve()
      .then(async () => call.answer(await method.call(delegate, request.value, cancelled.signal)))
      .then(request.resolve, (error: unknown) => request.reject(new ResponseError(JsonRpcErrors.delegateFailed, messageOf(error))))
      .finally(() => {
        this.#inbound.delete(cancelled.abort);
        cancelled.dispose();
      });
  }

  async initialize(): Promise<void> {
    const result = await this.request(Methods.initialize, {
      protocolVersion: PROTOCOL_VERSION,
      clientInfo: { name: 'codecell HostClient', version: CODECELL_VERSION },
    });
    this.limits = result.limits;
  }

  async createSession(delegate: SessionRuntimeDelegate, options: RemoteSessionOptions): Promise<RemoteSession> {
    // Held until the session is registered: what the host sends for it meanwhile is kept.
    using _requests = this.sessions.begin();
    using _events = this.sessionEvents.begin();
    const result = await this.request(Methods.sessionCreate, options);
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
