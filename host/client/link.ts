// The client's end of one connection to codecell-host (a child process, or a host over streams):
// requests out (each bounded by the host's liveness), delegate calls and cell messages in,
// routed to sessions through a PendingRouter.
import type { ChildProcess } from 'node:child_process';
import type { Carrier } from '../wire/carrier.js';
import {
  CodeCellError,
  PendingRouter,
  type CellLimits,
  type CodeCellStore,
  type Logger,
  type RoutedEntry,
} from '../../src/index.js';
import { CODECELL_VERSION } from '../../src/internal.js';
import { IncomingCalls, type InboundRequest } from './incoming-calls.js';

export type { InboundRequest } from './incoming-calls.js';
import { Liveness } from './liveness.js';
import { checkJournalPart, checkStoredValues } from './host-journal-shapes.js';
import { ErrorAnswer, RpcConnection, RpcError, type JsonText } from '../wire/rpc.js';
import {
  DelegateCalls,
  errorFromWire,
  Methods,
  PROTOCOL_VERSION,
  type DelegateCallName,
  type Handlers,
  type HostLoad,
  type IncomingRequest,
  type MethodSpec,
  type ParamsOf,
  type ResultOf,
  type SessionId,
  type WireParams,
} from '../wire/protocol.js';
import type { Traced } from '../wire/wire-types.js';
import { HostHold } from './host-hold.js';

type InboundNotification =
  | { type: 'event'; params: WireParams['cellEvent'] }
  | { type: 'sessionEvent'; params: WireParams['sessionEvent'] }
  | { type: 'initialEvent'; params: WireParams['cellInitialEvent'] }
  | { type: 'closed'; params: WireParams['cellClosed'] }
  | { type: 'stored'; params: WireParams['sessionStored'] }
  | { type: 'journal'; params: WireParams['cellJournal'] }
  | { type: 'catastrophe'; params: WireParams['hostCatastrophe'] }
  | { type: 'moved'; params: WireParams['sessionMoved'] };
export type Inbound = RoutedEntry<InboundNotification, InboundRequest>;

/** How long a silent host is tolerated before it is pinged, then killed. */
export interface LivenessOptions {
  /**
   * While requests are outstanding, a host silent this long is pinged, and one that leaves the
   * ping unanswered as long again is killed (ERR_HOST_EXITED). Default 5 000 ms.
   */
  livenessTimeoutMs?: number;
}

const DEFAULT_LIVENESS_MS = 5_000;

/** Whether sessions move to another host when theirs is lost or drains (SPEC §13). */
export interface RehomeOptions {
  /**
   * Re-home sessions (default true): the client keeps each session's stored values (the host
   * sends each commit) and, when its host is lost or drains, creates it again on another host —
   * the session goes on, its running cells end `terminated`/`hostLost` with their tool calls.
   * `false`: a session ends with its host (ERR_HOST_EXITED).
   */
  rehome?: boolean;
  /**
   * Where the client's sessions outlive its process (SPEC §16): what it keeps of each (its
   * ledger) is written there, and `client.recover` adopts them in another process.
   */
  store?: CodeCellStore;
  /** With a store: how long a session's lease lasts unless renewed (ms; default 10 000). */
  leaseMs?: number;
}

export interface LinkOptions extends LivenessOptions {
  /** What `session.host` says: the host's URL, or its process (default `process <pid>`, `streams`). */
  name?: string;
  /** Tell the host (initialize) that this client moves its sessions away when it drains. */
  handOff?: boolean;
}

/** What the link needs of a session it routes messages to (RemoteSession is one). */
export interface LinkedSession {
  /** A host message for the session, in arrival order (held until it was registered). */
  receive(entry: Inbound): void;
  /** The host cancelled these delegate calls of the cell; `running`: their delegates' promises. */
  callsCancelled(cellId: string, running: Promise<unknown>[]): void;
  /** The host is gone. */
  hostDied(error: CodeCellError): void;
  /** The host drains (host/draining): the session moves to another host when it can. */
  handOff(): void;
  /** Whether a cell of the session runs on the host now (a spawned host then keeps Node alive). */
  readonly runningOnHost: boolean;
}

/** One connection to one host process (or to an in-process host over streams). */
export class HostLink {
  readonly rpc: RpcConnection;
  readonly child: ChildProcess | undefined;
  /** The host this link reaches (see LinkOptions.name). */
  readonly name: string;
  readonly logger: Logger;
  /** Routes host messages to sessions whose id the client may not have learned yet. */
  readonly sessions: PendingRouter<SessionId, InboundNotification, InboundRequest>;
  readonly remotes = new Map<SessionId, LinkedSession>();
  limits: CellLimits | undefined;
  /** The largest message the host reads (its `initialize` says; older hosts do not). */
  maxMessageBytes: number | undefined;
  /** Hears the load the host reports with each session it creates (HostClient places sessions by it). */
  loadReported: ((load: HostLoad | undefined) => void) | undefined;
  /** Why the host was found to break the protocol (see broken): what it sent of its cells is not trusted. */
  brokenWhy: string | undefined;
  /** Whether the host said it drains (host/draining): its sessions move elsewhere. */
  draining = false;
  /** Hears host/draining (HostClient takes no new sessions there). */
  drainingReported: (() => void) | undefined;
  /** Whether its client closed it (close()): its sessions end with it, they are not lost. */
  closedByClient = false;
  readonly #handOff: boolean;
  readonly #incoming: IncomingCalls;
  readonly #carrier: Carrier;
  /** Requests sent and not yet answered (the liveness watch runs while there are any). */
  #outstanding = 0;
  /** Whether a spawned host's process and pipes keep this process alive (see hold). */
  readonly #liveness: Liveness;
  #death: CodeCellError | undefined;
  readonly #hold: HostHold | undefined;
  readonly #exited = Promise.withResolvers<void>();
  readonly #died = Promise.withResolvers<CodeCellError>();
  #initialized: Promise<void> | undefined;

  constructor(carrier: Carrier, child: ChildProcess | undefined, logger: Logger, options: LinkOptions = {}) {
    this.#carrier = carrier;
    this.name = options.name ?? (child === undefined ? 'streams' : `process ${child.pid ?? '?'}`);
    this.child = child;
    this.logger = logger;
    this.#liveness = new Liveness(options.livenessTimeoutMs ?? DEFAULT_LIVENESS_MS);
    this.#handOff = options.handOff === true;
    this.sessions = new PendingRouter({ label: 'session', logger });
    this.rpc = new RpcConnection(carrier, logger, {
      // A host that stopped reading its input (the delegates' answers) is given up.
      overflow: (error) =>
        this.die(new CodeCellError('ERR_HOST_EXITED', `codecell-host stopped reading: ${error.message}`)),
      heard: () => this.#liveness.heard(),
    });
    this.#incoming = new IncomingCalls();
    const running = (): boolean => [...this.remotes.values()].some((session) => session.runningOnHost);
    const load = () => ({ outstanding: this.#outstanding, sessions: this.remotes.size, running });
    this.#hold = child === undefined ? undefined : new HostHold(child, load);
    const handlers: Handlers<'toClient'> = {
      cellEvent: (params) =>
        this.remotes.get(params.sessionId)?.receive({ type: 'notification', message: { type: 'event', params } }),
      sessionEvent: (params) =>
        this.remotes
          .get(params.sessionId)
          ?.receive({ type: 'notification', message: { type: 'sessionEvent', params } }),
      cellInitialEvent: (params) => this.sessions.routeNotification(params.sessionId, { type: 'initialEvent', params }),
      cellClosed: (params) => {
        this.#incoming.cellClosed(params.sessionId, params.cellId);
        this.sessions.routeNotification(params.sessionId, { type: 'closed', params });
      },
      cellCancel: ({ sessionId, cellId, method }) => {
        const running = this.#incoming.cancel(sessionId, cellId, method);
        if (running.length > 0) this.remotes.get(sessionId)?.callsCancelled(cellId, running);
      },
      sessionStored: (params) => {
        const checked = checkStoredValues(params.values);
        if ('why' in checked) return this.broken(`session/stored with ${checked.why}`);
        this.sessions.routeNotification(params.sessionId, { type: 'stored', params });
      },
      sessionMoved: (params) => this.sessions.routeNotification(params.sessionId, { type: 'moved', params }),
      cellJournal: ({ sessionId, cellId, start, update }) => this.#journal(sessionId, cellId, { start, update }),
      hostCatastrophe: (params) => {
        this.logger.warn(`codecell: ${this.name} lost cell ${params.cellId}'s isolate (${params.message}); it exits`);
        this.sessions.routeNotification(params.sessionId, { type: 'catastrophe', params });
      },
      hostDraining: () => {
        if (this.draining) return;
        this.draining = true;
        this.drainingReported?.();
        for (const session of [...this.remotes.values()]) session.handOff();
      },
      toolInvoke: (params, request) => this.#delegateCall('invokeTool', params, params.call, request),
      cellNotify: (params, request) => this.#delegateCall('notify', params, params.notification, request),
    };
    this.rpc.serve(handlers);
    const ended = (): void => {
      const closed = new CodeCellError('ERR_HOST_EXITED', 'codecell-host closed the connection');
      if (child === undefined) {
        this.die(closed);
        return;
      }
      // The process's exit status usually follows its stdout's end; give it a moment to arrive.
      setTimeout(() => this.die(closed), 250).unref();
    };
    carrier.onEnd(ended);
    this.rpc.listen();
  }

  get alive(): boolean {
    return this.#death === undefined;
  }

  /** Why the host is gone (see die), once it is. */
  get death(): CodeCellError | undefined {
    return this.#death;
  }

  /** Resolves with the reason once the host is gone (see die). */
  get died(): Promise<CodeCellError> {
    return this.#died.promise;
  }

  /**
   * A request to the host; rejects with ERR_HOST_EXITED if the host dies or stops answering.
   * `now`: it leaves at once, before the work the caller does next in this turn.
   */
  async request<M extends MethodSpec>(
    method: M,
    params: ParamsOf<M>,
    signal?: AbortSignal,
    now?: boolean,
  ): Promise<ResultOf<M>> {
    if (this.#death !== undefined) throw this.#death;
    this.#outstanding++;
    this.hold();
    this.#watch();
    try {
      return await this.rpc.request(method, params, { signal, now });
    } catch (error) {
      throw error instanceof RpcError ? errorFromWire(error) : error;
    } finally {
      this.#outstanding--;
      this.hold();
    }
  }

  /** The handshake (once, however often it is called); `signal` gives it up. */
  initialize(signal?: AbortSignal): Promise<void> {
    this.#initialized ??= this.request(
      Methods.initialize,
      {
        protocolVersion: PROTOCOL_VERSION,
        clientInfo: { name: 'codecell HostClient', version: CODECELL_VERSION },
        ...(this.#handOff ? { capabilities: { handOff: true } } : {}),
      },
      signal,
    ).then((result) => {
      this.limits = result.limits;
      if (typeof result.maxMessageBytes === 'number') this.maxMessageBytes = result.maxMessageBytes;
    });
    return this.#initialized;
  }

  /**
   * The session is shutting down: its delegates' signals abort now, their results are dropped.
   * Returns the delegates' promises still running (the shutdown waits for them, within its deadline).
   */
  abortSessionCalls(sessionId: SessionId): Promise<unknown>[] {
    return this.#incoming.abortSession(
      sessionId,
      new CodeCellError('ERR_SHUTTING_DOWN', 'the session is shutting down'),
    );
  }

  /**
   * The host is gone, but the cell runs again on another host (SPEC §13): its delegates' calls go
   * on (their outcomes go to the new host), their signals are not aborted with this link.
   */
  keepCalls(sessionId: SessionId, cellId: string): void {
    this.#incoming.cellClosed(sessionId, cellId);
  }

  forget(sessionId: SessionId): void {
    this.remotes.delete(sessionId);
    this.sessions.unregister(sessionId);
    this.hold();
  }

  /** A spawned host keeps this process alive only while busy (HostHold). */
  hold(): void {
    this.#hold?.update();
  }

  /** The host is gone: every pending call rejects, every delegate signal aborts. */
  die(error: CodeCellError): void {
    if (this.#death !== undefined) return;
    // A host that said it drains and then went: its sessions are told why.
    if (this.draining && error.code === 'ERR_HOST_EXITED')
      error = new CodeCellError('ERR_HOST_EXITED', `${error.message}: it was draining (shutting down)`, {
        cause: error,
      });
    this.#death = error;
    this.#hold?.stop();
    this.#died.resolve(error);
    // A host given up on (its output closed, or it stopped answering) is not left running.
    if (this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null)
      this.child.kill('SIGKILL');
    this.#liveness.stop();
    this.rpc.close(error);
    // Sessions first: the calls of cells that run again elsewhere are kept (keepCalls), not aborted.
    for (const session of this.remotes.values()) session.hostDied(error);
    this.#incoming.abortAll(error);
    this.remotes.clear();
    if (this.child === undefined) this.#exited.resolve();
  }

  exited(): void {
    this.#exited.resolve();
  }

  async close(): Promise<void> {
    this.closedByClient = true;
    if (this.child !== undefined) {
      this.child.stdin?.end();
      const timer = setTimeout(() => this.child?.kill('SIGKILL'), 5_000);
      await this.#exited.promise;
      clearTimeout(timer);
    } else {
      // The host sees its input end and shuts this connection's sessions down.
      this.#carrier.end();
      this.die(new CodeCellError('ERR_HOST_EXITED', 'the client closed the connection'));
    }
  }

  /** A delegate call from the host, routed to its session (which may not be registered yet). */
  #delegateCall(
    name: DelegateCallName,
    params: { sessionId: SessionId },
    value: { cellId?: unknown } | undefined,
    request: IncomingRequest,
  ): Promise<JsonText> {
    const { promise, resolve, reject } = Promise.withResolvers<JsonText>();
    const cellId = typeof value?.cellId === 'string' ? value.cellId : '';
    const call = this.#incoming.open(
      request,
      DelegateCalls[name].method.name as 'tool/invoke' | 'cell/notify',
      { sessionId: params.sessionId, cellId },
      value,
      { answer: resolve, fail: reject },
    );
    // The cell's journal up to this call (a re-homing session's mirror) goes with it: its session
    // takes it in first.
    const sent = (params as { journal?: unknown }).journal;
    const checked = sent === undefined ? undefined : checkJournalPart(sent);
    if (checked !== undefined && 'why' in checked)
      this.broken(`${DelegateCalls[name].method.name} with ${checked.why}`);
    if (this.#death !== undefined) {
      reject(this.#death); // a host that broke the protocol with it: nothing of the call is served
      return promise;
    }
    // The host's span of this call (SPEC §14): the delegate runs as its child.
    const meta = (params as Traced)._meta;
    this.sessions.route(params.sessionId, {
      type: 'request',
      message: { name, call, meta, journal: checked !== undefined && 'part' in checked ? checked.part : undefined },
      fail: (failure) => call.fail(new ErrorAnswer(failure.code, failure.message)),
    });
    return promise;
  }

  /**
   * The host sent what no host may (a message of another shape, past a bound of the client's own):
   * it is treated as lost — its connection ends, a spawned one is killed, its sessions move.
   */
  broken(why: string): void {
    if (this.#death !== undefined) return;
    this.brokenWhy = why;
    this.logger.warn(`codecell: ${this.name} broke the protocol (${why}); it is treated as lost`);
    this.die(new CodeCellError('ERR_HOST_EXITED', `codecell-host ${this.name} broke the protocol (${why})`));
    this.#carrier.end();
  }

  /** cell/journal: a cell's journal from the host, checked, to its session. */
  #journal(sessionId: SessionId, cellId: string, journal: unknown): void {
    const checked = checkJournalPart(journal);
    if ('why' in checked) return this.broken(`cell/journal with ${checked.why}`);
    this.sessions.routeNotification(sessionId, { type: 'journal', params: { sessionId, cellId, ...checked.part } });
  }

  /** While requests are outstanding, checks that the host still answers (see LivenessOptions). */
  #watch(): void {
    const boundMs = this.#liveness.boundMs;
    const ping = (): void => void this.rpc.request(Methods.hostPing, {}).catch(() => {});
    const silent = (): void => {
      this.child?.kill('SIGKILL');
      const why = `codecell-host stopped answering (no reply to a ping within ${boundMs} ms); it was killed`;
      this.die(new CodeCellError('ERR_HOST_EXITED', why));
    };
    this.#liveness.watch(() => this.#outstanding, ping, silent);
  }
}
