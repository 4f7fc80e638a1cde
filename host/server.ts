// codecell-host's server: a thin adapter from JSON-RPC requests onto SessionRuntime. Sessions and
// their delegates live here; every runtime decision stays in src/.
import type { Readable, Writable } from 'node:stream';
import { CodeCellError, messageOf } from '../src/errors.js';
import { CODECELL_VERSION, DEFAULT_OBSERVE } from '../src/defaults.js';
import { consoleLogger } from '../src/logger.js';
import { checkLimits, DEFAULT_LIMITS, type CellLimits } from '../src/limits.js';
import { SessionRuntime } from '../src/session-runtime.js';
import type { CellId, JsonValue, Logger, ObserveMode, SessionRuntimeDelegate } from '../src/types.js';
import {
  invalidParams,
  openConnection,
  signalFromToken,
  toResponseError,
  tokenFromSignal,
  type CancellationToken,
} from './jsonrpc.js';
import {
  Methods,
  PROTOCOL_VERSION,
  type CellEventParams,
  type CellExecuteResult,
  type InitializeResult,
  type SessionCreateResult,
  type SessionId,
} from './protocol.js';

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

function record(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidParams(`${what} params must be an object`);
  return value as Record<string, unknown>;
}

function stringField(params: Record<string, unknown>, key: string): string {
  const value = params[key];
  if (typeof value !== 'string' || value === '') throw invalidParams(`${key} must be a non-empty string`);
  return value;
}

export function createHost(options: HostOptions = {}): Host {
  const { input = process.stdin, output = process.stdout, logger = consoleLogger, callbackAbortDeadlineMs } = options;
  const caps = checkLimits(options.caps, 'options.caps');
  const { connection, notify, flush } = openConnection(input, output, logger);
  const sessions = new Map<SessionId, SessionRuntime>();
  let sessionSeq = 0;
  let closing: Promise<void> | undefined;

  const session = (params: Record<string, unknown>): [SessionId, SessionRuntime] => {
    const sessionId = stringField(params, 'sessionId');
    const runtime = sessions.get(sessionId);
    if (runtime === undefined) throw invalidParams(`unknown session ${sessionId}`);
    return [sessionId, runtime];
  };

  /** Nothing a handler does escapes into the transport: every failure becomes one error answer. */
  const handle = <R>(method: string, handler: (params: Record<string, unknown>, token: CancellationToken) => Promise<R> | R): void => {
    connection.onRequest(method, (params: unknown, token: CancellationToken) =>
      Promise.resolve()
        .then(() => handler(record(params, method), token))
        .catch((error: unknown) => {
          throw toResponseError(error);
        }),
    );
  };

  const forwardEvents = (sessionId: SessionId, runtime: SessionRuntime, cellId: CellId): void => {
    const stream = runtime.events(cellId);
    void (async () => {
      for await (const event of stream) {
        notify(Methods.cellEvent, { sessionId, cellId, event } satisfies CellEventParams);
      }
    })().catch((error: unknown) => logger.warn(`codecell-host: forwarding events of cell ${cellId} failed: ${messageOf(error)}`));
  };

  const delegateFor = (sessionId: SessionId): SessionRuntimeDelegate => {
    const request = async <R>(method: string, params: unknown, signal: AbortSignal): Promise<R> => {
      const { token, dispose } = tokenFromSignal(signal);
      try {
        return await connection.sendRequest<R>(method, params, token);
      } catch (error) {
        // The client's answer (e.g. a PendingRouter overflow) becomes the tool's rejection.
        throw new Error(messageOf(error));
      } finally {
        dispose();
      }
    };
    return {
      invokeTool: async (call, signal) => {
        const result = await request<JsonValue | null>(Methods.toolInvoke, { sessionId, call }, signal);
        return result ?? null;
      },
      notify: async (notification, signal) => {
        await request(Methods.cellNotify, { sessionId, notification }, signal);
      },
      cellClosed: (cellId) => notify(Methods.cellClosed, { sessionId, cellId }),
    };
  };

  handle(Methods.initialize, (params): InitializeResult => {
    if (params.protocolVersion !== PROTOCOL_VERSION) {
      throw invalidParams(`protocolVersion ${String(params.protocolVersion)} is not supported (this host speaks ${PROTOCOL_VERSION})`);
    }
    return { protocolVersion: PROTOCOL_VERSION, serverInfo: SERVER_INFO, limits: { ...DEFAULT_LIMITS, ...caps } };
  });

  handle(Methods.sessionCreate, async (params): Promise<SessionCreateResult> => {
    if (closing !== undefined) throw new CodeCellError('ERR_SHUTTING_DOWN', 'codecell-host is shutting down');
    const { setupSource } = params;
    if (setupSource !== undefined && typeof setupSource !== 'string') throw invalidParams('setupSource must be a string');
    const sessionId = String(++sessionSeq);
    const runtime = new SessionRuntime(delegateFor(sessionId), {
      tools: params.tools as never,
      limits: params.limits as never,
      storedValues: params.storedValues as never,
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

  handle(Methods.cellExecute, async (params): Promise<CellExecuteResult> => {
    const [sessionId, runtime] = session(params);
    const started = await runtime.execute(params.request as never, (params.observe as ObserveMode | undefined) ?? DEFAULT_OBSERVE);
    forwardEvents(sessionId, runtime, started.cellId);
    return { cellId: started.cellId, event: await started.initialEvent };
  });

  handle(Methods.cellObserve, async (params, token) => {
    const [, runtime] = session(params);
    const cancelled = signalFromToken(token, () => new CodeCellError('ERR_CANCELLED', 'the client cancelled the observation'));
    try {
      return await runtime.observe(params.cellId as string, params.mode as ObserveMode, cancelled.signal);
    } finally {
      cancelled.dispose();
    }
  });

  handle(Methods.cellTerminate, async (params) => {
    const [, runtime] = session(params);
    return runtime.terminate(params.cellId as string);
  });

  handle(Methods.sessionShutdown, async (params) => {
    const [sessionId, runtime] = session(params);
    await runtime.shutdown();
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
