// host/server/ — what runs in the codecell-host process: createHost (this file), the delegate
// calls it forwards to the client (outgoing-calls.ts) and the process entry (main.ts). It imports
// src/, wire/ and cli/host-args.ts (its command line); only host/index.ts and the testing entry
// import it.
//
// codecell-host's server: a thin adapter from JSON-RPC requests onto SessionRuntime. Sessions and
// their delegates live here; every runtime decision stays in src/.
import type { Readable, Writable } from 'node:stream';
import {
  CodeCellError,
  DEFAULT_CALLBACK_ABORT_DEADLINE_MS,
  DEFAULT_LIMITS,
  SessionRuntime,
  type CellEvent,
  type CellId,
  type CellLimits,
  type Logger,
  type SessionRuntimeDelegate,
} from '../../src/index.js';
import {
  checkLimits,
  CODECELL_VERSION,
  consoleLogger,
  DEFAULT_OBSERVE,
  errorKindOf,
  messageOf,
} from '../../src/internal.js';
import { OutgoingCalls } from './outgoing-calls.js';
import { ConnectionCells, HostStats } from './stats.js';
import type { Carrier } from '../wire/carrier.js';
import { streamCarrier } from '../wire/framing.js';
import { invalidParams, openConnection, serveMethods, signalFromToken } from '../wire/jsonrpc.js';
import {
  DelegateCalls,
  Methods,
  PROTOCOL_VERSION,
  type DelegateCall,
  type Handlers,
  type SessionId,
} from '../wire/protocol.js';

export interface HostOptions {
  input?: Readable;
  output?: Writable;
  /** What carries the messages instead of `input`/`output` (e.g. a WebSocket: host/wire/websocket.ts). */
  carrier?: Carrier;
  /** Where the host logs (never stdout). Default: stderr. */
  logger?: Logger;
  /** Callback abort deadline of every session (default 100 ms). */
  callbackAbortDeadlineMs?: number;
  /** Host-wide caps: no session or cell may ask for more. Reported by `initialize`. */
  caps?: Partial<CellLimits>;
  /**
   * How much the client may leave unread (its cells' answers and events) before the host gives
   * the connection up and shuts its sessions down. Default 64 MiB.
   */
  maxQueuedBytes?: number;
  /** V8 lost control of an isolate; the process should end (codecell-host's main exits). */
  onCatastrophicError?: (message: string) => void;
  /**
   * The process's load and metrics, shared by all its connections (codecell-host --listen);
   * default: this connection's own. While `stats.accepting` is false, session/create is refused
   * with ERR_SHUTTING_DOWN ("go elsewhere").
   */
  stats?: HostStats;
  /** How many sessions this connection may have at once (default: unbounded). */
  maxSessions?: number;
  /** How many cells this connection's sessions may have live at once (default: unbounded). */
  maxLiveCells?: number;
  /**
   * Session limits used where a session does not set its own (under the caps). Served hosts use
   * SERVED_LIMITS: finite CPU and wall time per cell.
   */
  defaultLimits?: Partial<CellLimits>;
}

export interface Host {
  /** Resolves once the input closed and every session was shut down. */
  readonly closed: Promise<void>;
  /** Shuts every session down and closes the connection. */
  close(): Promise<void>;
}

const SERVER_INFO = { name: 'codecell-host', version: CODECELL_VERSION };

const isPlainObject = (value: unknown): value is object =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

export function createHost(options: HostOptions = {}): Host {
  const { logger = consoleLogger, callbackAbortDeadlineMs } = options;
  const carrier = options.carrier ?? streamCarrier(options.input ?? process.stdin, options.output ?? process.stdout);
  const caps = checkLimits(options.caps, 'options.caps');
  const stats = options.stats ?? new HostStats();
  const maxSessions = options.maxSessions ?? Number.POSITIVE_INFINITY;
  const defaultLimits = checkLimits(options.defaultLimits, 'options.defaultLimits');
  const cells = new ConnectionCells(options.maxLiveCells ?? Number.POSITIVE_INFINITY);
  // Answers to the host's delegate calls are taken before vscode-jsonrpc sees them.
  let outgoing: OutgoingCalls | undefined;
  const { connection, notify, send, flush } = openConnection(
    carrier,
    logger,
    (message) => outgoing?.answer(message) === true,
    {
      ...(options.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: options.maxQueuedBytes }),
      // A client that stopped reading is given up: its sessions end (it never grows without bound).
      overflow: () => void close(),
    },
  );
  const calls = new OutgoingCalls(send);
  outgoing = calls;
  const sessions = new Map<SessionId, SessionRuntime>();
  /** Per session, the cells whose events go to the client (cell/subscribe). */
  const relayed = new Map<SessionId, Set<CellId>>();
  /** Sessions whose session-wide events go to the client (session/subscribe). */
  const sessionFollowed = new Set<SessionId>();
  /** Initial observations not yet sent, per session (a shutdown answers after them). */
  const initialSends = new Map<SessionId, Set<Promise<void>>>();
  let sessionSeq = 0;
  let closing: Promise<void> | undefined;

  const session = (sessionId: SessionId): SessionRuntime => {
    const runtime = sessions.get(sessionId);
    if (runtime === undefined) throw invalidParams(`unknown session ${sessionId}`);
    return runtime;
  };

  /**
   * Sends the cell's initial observation once it is there, after the answer that named the cell.
   * (Its events are held by the runtime until the client subscribes: SPEC §7, one PendingRouter.)
   */
  const sendInitialEvent = (sessionId: SessionId, cellId: CellId, initialEvent: Promise<CellEvent>): void => {
    const sends = initialSends.get(sessionId);
    const sent: Promise<void> = initialEvent
      .then(
        (event) =>
          new Promise<void>((resolve) =>
            setImmediate(() => resolve(notify(Methods.cellInitialEvent, { sessionId, cellId, event }))),
          ),
        (error: unknown) =>
          logger.warn(`codecell-host: the initial observation of cell ${cellId} failed: ${messageOf(error)}`),
      )
      .finally(() => sends?.delete(sent));
    sends?.add(sent);
  };

  /** Forgets a session once its cells' initial observations went out (bounded). */
  const forgetSession = async (sessionId: SessionId): Promise<void> => {
    const sends = [...(initialSends.get(sessionId) ?? [])];
    if (sessions.delete(sessionId)) stats.sessions--;
    relayed.delete(sessionId);
    sessionFollowed.delete(sessionId);
    initialSends.delete(sessionId);
    const bound = new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref());
    await Promise.race([Promise.all(sends), bound]);
  };

  /**
   * The session's delegate: each delegate call of the table is a request to the client (given up
   * on with its signal, one cell/cancel per cell); cellClosed is a notification.
   */
  const delegateFor = (sessionId: SessionId): SessionRuntimeDelegate => {
    const forward =
      (call: DelegateCall) =>
      async (value: { cellId: string }, signal: AbortSignal): Promise<unknown> => {
        try {
          return call.value(await calls.call(call, sessionId, value, signal));
        } catch (error) {
          // Given up on (cancelled, or the session is shutting down): nobody reads this rejection.
          if (signal.aborted) throw signal.reason;
          if (error instanceof CodeCellError || errorKindOf(error) !== '') throw error;
          // The client's answer (e.g. a PendingRouter overflow) becomes the tool's rejection.
          throw new Error(messageOf(error));
        }
      };
    const forwarders = Object.entries(DelegateCalls).map(([name, call]) => [name, forward(call)]);
    // Each forwarder returns what the client answered for that delegate method (table-checked).
    const delegate: Record<string, unknown> = Object.fromEntries(forwarders);
    delegate.cellClosed = (cellId: CellId) => notify(Methods.cellClosed, { sessionId, cellId });
    return delegate as unknown as SessionRuntimeDelegate;
  };

  const handlers: Handlers<'toHost'> = {
    initialize: ({ protocolVersion }) => {
      if (protocolVersion !== PROTOCOL_VERSION) {
        throw invalidParams(
          `protocolVersion ${protocolVersion} is not supported (this host speaks ${PROTOCOL_VERSION})`,
        );
      }
      return { protocolVersion: PROTOCOL_VERSION, serverInfo: SERVER_INFO, limits: { ...DEFAULT_LIMITS, ...caps } };
    },

    hostPing: () => ({ load: stats.load }),

    sessionCreate: async (params, token) => {
      if (closing !== undefined) throw new CodeCellError('ERR_SHUTTING_DOWN', 'codecell-host is shutting down');
      if (!stats.accepting)
        throw new CodeCellError('ERR_SHUTTING_DOWN', 'codecell-host is draining: create the session on another host');
      if (sessions.size >= maxSessions)
        throw new CodeCellError(
          'ERR_LIMIT_EXCEEDED',
          `this connection already has ${maxSessions} sessions (the host's --max-sessions)`,
        );
      const { tools, limits, storedValues, setupSource } = params;
      const sessionId = String(++sessionSeq);
      const deadlineMs =
        params.callbackAbortDeadlineMs ?? callbackAbortDeadlineMs ?? DEFAULT_CALLBACK_ABORT_DEADLINE_MS;
      const counted = stats.sessionObserver();
      const runtime = new SessionRuntime(delegateFor(sessionId), {
        tools,
        limits: limits === undefined || isPlainObject(limits) ? { ...defaultLimits, ...limits } : limits,
        storedValues,
        callbackAbortDeadlineMs: deadlineMs,
        logger,
        caps,
        onCatastrophicError: options.onCatastrophicError,
        observer: (event) => {
          cells.observe(event);
          counted(event);
        },
      });
      stats.sessions++;
      sessions.set(sessionId, runtime);
      relayed.set(sessionId, new Set());
      initialSends.set(sessionId, new Set());
      try {
        const started =
          setupSource === undefined
            ? undefined
            : await runtime.execute({ source: setupSource }, { kind: 'pendingFrontier' });
        // The client gave up before it learned the id: nobody will ever shut this session down.
        if (token.isCancellationRequested)
          throw new CodeCellError('ERR_CANCELLED', 'the client cancelled session/create');
        if (started === undefined) return { sessionId, callbackAbortDeadlineMs: deadlineMs, load: stats.load };
        sendInitialEvent(sessionId, started.cellId, started.initialEvent);
        return { sessionId, setupCellId: started.cellId, callbackAbortDeadlineMs: deadlineMs, load: stats.load };
      } catch (error) {
        await runtime.shutdown();
        await forgetSession(sessionId);
        throw error;
      }
    },

    cellExecute: async ({ sessionId, request, observe }) => {
      const runtime = session(sessionId);
      const started = await cells.admit(() => runtime.execute(request, observe ?? DEFAULT_OBSERVE));
      sendInitialEvent(sessionId, started.cellId, started.initialEvent);
      return { cellId: started.cellId };
    },

    cellSubscribe: ({ sessionId, cellId, from }) => {
      const runtime = session(sessionId);
      const cells = relayed.get(sessionId);
      if (cells === undefined || cells.has(cellId)) return {};
      // The runtime's stream: what it held for the cell's first subscriber (or its replay), then live.
      const stream = runtime.events(cellId, from === undefined ? {} : { from });
      cells.add(cellId);
      void (async () => {
        for await (const event of stream) notify(Methods.cellEvent, { sessionId, cellId, event });
      })()
        .catch((error: unknown) =>
          logger.warn(`codecell-host: relaying the events of cell ${cellId} failed: ${messageOf(error)}`),
        )
        .finally(() => cells.delete(cellId));
      return {};
    },

    sessionSubscribe: ({ sessionId }) => {
      const runtime = session(sessionId);
      if (!sessionFollowed.has(sessionId)) {
        sessionFollowed.add(sessionId);
        void (async () => {
          for await (const event of runtime.events()) notify(Methods.sessionEvent, { sessionId, event });
        })().catch((error: unknown) =>
          logger.warn(`codecell-host: relaying the events of session ${sessionId} failed: ${messageOf(error)}`),
        );
      }
      return {};
    },

    // Protocol v2 clients say so when nobody subscribed; the runtime holds the newest 128 either way.
    cellNoSubscriber: () => {},

    cellObserve: async ({ sessionId, cellId, mode }, token) => {
      const runtime = session(sessionId);
      const cancelled = signalFromToken(
        token,
        () => new CodeCellError('ERR_CANCELLED', 'the client cancelled the observation'),
      );
      try {
        return await runtime.observe(cellId, mode, cancelled.signal);
      } finally {
        cancelled.dispose();
      }
    },

    cellTerminate: ({ sessionId, cellId }) => {
      const runtime = session(sessionId);
      return stats.timed('terminated', () => runtime.terminate(cellId));
    },

    sessionShutdown: async ({ sessionId }) => {
      const runtime = session(sessionId);
      // The client aborts this session's calls itself: one message, not one cell/cancel per cell.
      calls.forgetSession(sessionId, new CodeCellError('ERR_SHUTTING_DOWN', 'the session is shutting down'));
      await stats.timed('shutDown', () => runtime.shutdown());
      await forgetSession(sessionId);
      return {};
    },
  };
  serveMethods(connection, handlers, logger);

  const shutdownAll = async (): Promise<void> => {
    const runtimes = [...sessions.values()];
    sessions.clear();
    relayed.clear();
    initialSends.clear();
    await Promise.all(runtimes.map((runtime) => stats.timed('shutDown', () => runtime.shutdown())));
    stats.sessions -= runtimes.length;
    calls.failAll(new CodeCellError('ERR_HOST_EXITED', 'codecell-host is closing'));
  };

  let markClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  const close = (): Promise<void> => {
    closing ??= shutdownAll().finally(async () => {
      await flush().catch(() => {});
      markClosed();
      try {
        connection.dispose();
      } catch {
        // already disposed after the input closed
      }
    });
    return closing;
  };
  connection.onClose(() => void close());
  carrier.onEnd(() => void close());
  connection.listen();
  return { closed, close };
}
