// codecell-host's server: a thin adapter from JSON-RPC requests onto SessionRuntime. Sessions and
// their delegates live here; every runtime decision stays in src/.
import type { Readable, Writable } from 'node:stream';
import {
  CodeCellError,
  DEFAULT_LIMITS,
  SessionRuntime,
  type CellId,
  type CellLimits,
  type Logger,
  type SessionRuntimeDelegate,
} from '../src/index.js';
import { checkLimits, CODECELL_VERSION, consoleLogger, DEFAULT_OBSERVE, messageOf } from '../src/internal.js';
import { invalidParams, onRequest, openConnection, sendRequest, signalFromToken, tokenFromSignal } from './jsonrpc.js';
import { DelegateCalls, Methods, PROTOCOL_VERSION, type DelegateCall, type SessionId } from './protocol.js';

export interface HostOptions {
  input?: Readable;
  output?: Writable;
  /** Where the host logs (never stdout). Default: stderr. */
  logger?: Logger;
  /** Callback abort deadline of every session (default 100 ms). */
  callbackAbortDeadlineMs?: number;
  /** Host-wide caps: no session or cell may ask for more. Reported by `initialize`. */
  caps?: Partial<CellLimits>;
  /** V8 lost control of an isolate; the process should end (codecell-host's main exits). */
  onCatastrophicError?: (message: string) => void;
}

export interface Host {
  /** Resolves once the input closed and every session was shut down. */
  readonly closed: Promise<void>;
  /** Shuts every session down and closes the connection. */
  close(): Promise<void>;
}

const SERVER_INFO = { name: 'codecell-host', version: CODECELL_VERSION };

export function createHost(options: HostOptions = {}): Host {
  const { input = process.stdin, output = process.stdout, logger = consoleLogger, callbackAbortDeadlineMs } = options;
  const caps = checkLimits(options.caps, 'options.caps');
  const { connection, notify, flush } = openConnection(input, output, logger);
  const sessions = new Map<SessionId, SessionRuntime>();
  let sessionSeq = 0;
  let closing: Promise<void> | undefined;

  const session = (sessionId: SessionId): SessionRuntime => {
    const runtime = sessions.get(sessionId);
    if (runtime === undefined) throw invalidParams(`unknown session ${sessionId}`);
    return runtime;
  };

  const forwardEvents = (sessionId: SessionId, runtime: SessionRuntime, cellId: CellId): void => {
    const stream = runtime.events(cellId);
    void (async () => {
      for await (const event of stream) notify(Methods.cellEvent, { sessionId, cellId, event });
    })().catch((error: unknown) => logger.warn(`codecell-host: forwarding events of cell ${cellId} failed: ${messageOf(error)}`));
  };

  /**
   * The session's delegate: each delegate call of the table is a request to the client, cancelled
   * with its signal; cellClosed is a notification.
   */
  const delegateFor = (sessionId: SessionId): SessionRuntimeDelegate => {
    const forward = ({ method, arg }: DelegateCall) => async (value: unknown, signal: AbortSignal): Promise<unknown> => {
      const { token, dispose } = tokenFromSignal(signal);
      try {
        return await sendRequest(connection, method, { sessionId, [arg]: value }, token);
      } catch (error) {
        // The client's answer (e.g. a PendingRouter overflow) becomes the tool's rejection.
        throw new Error(messageOf(error));
      } finally {
        dispose();
      }
    };
    const calls = Object.entries(DelegateCalls).map(([name, call]) => [name, forward(call)]);
    // Each forwarder returns what the client answered for that delegate method (table-checked).
    const delegate: Record<string, unknown> = Object.fromEntries(calls);
    delegate.cellClosed = (cellId: CellId) => notify(Methods.cellClosed, { sessionId, cellId });
    return delegate as unknown as SessionRuntimeDelegate;
  };

  onRequest(connection, Methods.initialize, ({ protocolVersion }) => {
    if (protocolVersion !== PROTOCOL_VERSION) {
      throw invalidParams(`protocolVersion ${protocolVersion} is not supported (this host speaks ${PROTOCOL_VERSION})`);
    }
    return { protocolVersion: PROTOCOL_VERSION, serverInfo: SERVER_INFO, limits: { ...DEFAULT_LIMITS, ...caps } };
  });

  onRequest(connection, Methods.sessionCreate, async ({ tools, limits, storedValues, setupSource }) => {
    if (closing !== undefined) throw new CodeCellError('ERR_SHUTTING_DOWN', 'codecell-host is shutting down');
    const sessionId = String(++sessionSeq);
    const runtime = new SessionRuntime(delegateFor(sessionId), {
      tools,
      limits,
      storedValues,
      callbackAbortDeadlineMs,
      logger,
      caps,
      onCatastrophicError: options.onCatastrophicError,
    });
    sessions.set(sessionId, runtime);
    if (setupSource === undefined) return { sessionId };
    try {
      // Runs while this request is in flight: its messages reach the client before the answer.
      const started = await runtime.execute({ source: setupSource }, { kind: 'pendingFrontier' });
      forwardEvents(sessionId, runtime, started.cellId);
      return { sessionId, setupCellId: started.cellId, setupEvent: await started.initialEvent };
    } catch (error) {
      sessions.delete(sessionId);
      await runtime.shutdown();
      throw error;
    }
  });

  onRequest(connection, Methods.cellExecute, async ({ sessionId, request, observe }) => {
    const runtime = session(sessionId);
    const started = await runtime.execute(request, observe ?? DEFAULT_OBSERVE);
    forwardEvents(sessionId, runtime, started.cellId);
    return { cellId: started.cellId, event: await started.initialEvent };
  });

  onRequest(connection, Methods.cellObserve, async ({ sessionId, cellId, mode }, token) => {
    const runtime = session(sessionId);
    const cancelled = signalFromToken(token, () => new CodeCellError('ERR_CANCELLED', 'the client cancelled the observation'));
    try {
      return await runtime.observe(cellId, mode, cancelled.signal);
    } finally {
      cancelled.dispose();
    }
  });

  onRequest(connection, Methods.cellTerminate, ({ sessionId, cellId }) => session(sessionId).terminate(cellId));

  onRequest(connection, Methods.sessionShutdown, async ({ sessionId }) => {
    await session(sessionId).shutdown();
    sessions.delete(sessionId);
    return {};
  });

  const shutdownAll = async (): Promise<void> => {
    const runtimes = [...sessions.values()];
    sessions.clear();
    await Promise.all(runtimes.map((runtime) => runtime.shutdown()));
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
  // A pipe's 'close' may never come while its other end is half open: the end of input is enough.
  input.once('end', () => void close());
  connection.listen();
  return { closed, close };
}
