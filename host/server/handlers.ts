// codecell-host's answers to the client's requests and notifications: one handler per row of the
// method table (Handlers<'toHost'>: a row without a handler does not compile), each a thin step
// onto SessionRuntime.
import {
  CodeCellError,
  DEFAULT_CALLBACK_ABORT_DEADLINE_MS,
  DEFAULT_LIMITS,
  SessionRuntime,
  type IsolatePool,
  type CellId,
  type CellLimits,
  type Logger,
  type SessionRuntimeOptions,
  type StartedCell,
} from '../../src/index.js';
import { CODECELL_VERSION, DEFAULT_OBSERVE, hostedCells, withTraceMeta } from '../../src/internal.js';
import { invalidParams, type Notify, type RpcConnection } from '../wire/rpc.js';
import {
  Methods,
  PROTOCOL_VERSION,
  type Handlers,
  type IncomingRequest,
  type ParamsOf,
  type SessionId,
} from '../wire/protocol.js';
import { forwardingDelegate } from './forwarding-delegate.js';
import { JournalMirror } from './journal-mirror.js';
import type { ServedSessions } from './served-sessions.js';
import type { SessionEpochs } from './session-epochs.js';
import type { ConnectionCells, HostStats } from './stats.js';

/** What the handlers of one connection work with. */
export interface HostContext {
  readonly sessions: ServedSessions;
  /** The connection: the delegate calls go out on it. */
  readonly rpc: RpcConnection;
  readonly cells: ConnectionCells;
  readonly stats: HostStats;
  readonly logger: Logger;
  readonly notify: Notify;
  readonly caps: Partial<CellLimits>;
  readonly defaultLimits: Partial<CellLimits>;
  readonly isolatePool: IsolatePool | undefined;
  readonly maxSessions: number;
  readonly maxMessageBytes: number;
  readonly callbackAbortDeadlineMs: number | undefined;
  /**
   * V8 lost control of the cell's isolate: a client that re-homes (`mirror`) is told which cell
   * caused it before the host goes (host/catastrophe), then the host's own reaction runs.
   */
  readonly catastrophe: (message: string, where: { sessionId: SessionId; cellId: CellId; mirror: boolean }) => void;
  /** True once the connection is closing (session/create is refused). */
  readonly closing: () => boolean;
  /** What the client said of itself in `initialize` (`handOff`: it moves its sessions on a drain). */
  readonly peer: { handOff: boolean };
  /**
   * The fencing epochs of sessions kept in a store, per key — this connection's own: a host believes
   * an epoch only from the connection that owns the session (another client cannot end it).
   */
  readonly epochs: SessionEpochs;
}

const SERVER_INFO = { name: 'codecell-host', version: CODECELL_VERSION };

export function hostHandlers(host: HostContext): Handlers<'toHost'> {
  const { sessions, stats } = host;
  return {
    initialize: ({ protocolVersion, capabilities }) => {
      if (protocolVersion !== PROTOCOL_VERSION) {
        throw invalidParams(
          `protocolVersion ${protocolVersion} is not supported (this host speaks ${PROTOCOL_VERSION})`,
        );
      }
      host.peer.handOff = capabilities?.handOff === true;
      const limits = { ...DEFAULT_LIMITS, ...host.caps };
      return {
        protocolVersion: PROTOCOL_VERSION,
        serverInfo: SERVER_INFO,
        limits,
        maxMessageBytes: host.maxMessageBytes,
      };
    },
    hostPing: () => ({ load: stats.load }),
    sessionCreate: (params, request) => createSession(host, params, request),
    cellExecute: async ({ sessionId, request, observe, _meta }) => {
      const receivedAt = performance.now();
      const runtime = sessions.get(sessionId);
      // The client's span is the cell's parent (its context is read before execute's first await).
      const execute = (): Promise<StartedCell> =>
        withTraceMeta(_meta, () => runtime.execute(request, observe ?? DEFAULT_OBSERVE));
      const started = await host.cells.admit(execute);
      sessions.traced(sessionId, started.cellId, _meta);
      const timings = sessions.timings(sessionId);
      timings.received(started.cellId, receivedAt);
      sessions.sendInitialEvent(sessionId, started.cellId, started.initialEvent);
      sessions.flush(sessionId, started.cellId);
      return timings.stamped(started.cellId, { cellId: started.cellId });
    },
    cellSubscribe: ({ sessionId, cellId, from }) => {
      sessions.subscribeCell(sessionId, cellId, from);
      return {};
    },
    sessionSubscribe: ({ sessionId }) => {
      sessions.subscribeSession(sessionId);
      return {};
    },
    // Protocol v2 clients say so when nobody subscribed; the runtime holds the newest 128 either way.
    cellNoSubscriber: () => {},
    // The client's $/cancelRequest aborts the observation (and is answered -32800).
    cellObserve: async ({ sessionId, cellId, mode }, request) => {
      const event = await sessions.get(sessionId).observe(cellId, mode, request.signal);
      sessions.flush(sessionId, cellId);
      return sessions.timings(sessionId).stamped(cellId, event);
    },
    cellResume: async ({ sessionId, cellId, answer, observe, _meta }) => {
      const runtime = sessions.get(sessionId);
      // A paused cell restored here from a snapshot begins its time on this host now.
      const timings = sessions.timings(sessionId);
      if (timings.of(cellId) === undefined) timings.began(cellId);
      sessions.traced(sessionId, cellId, _meta);
      const event = await withTraceMeta(_meta, () => runtime.resumeCell(cellId, answer, observe ?? DEFAULT_OBSERVE));
      sessions.flush(sessionId, cellId);
      return timings.stamped(cellId, event);
    },
    // A cell lost with its host runs again here from its client's journal (SPEC §13): through the
    // connection's gate as an executed cell (--max-cells), paused or not.
    cellReplay: async ({ sessionId, cell, _meta }) => {
      const cells = hostedCells(sessions.get(sessionId));
      const cellId = (cell as { cellId?: unknown } | undefined)?.cellId;
      if (typeof cellId === 'string') sessions.traced(sessionId, cellId, _meta);
      await host.cells.admit(() => withTraceMeta(_meta, () => cells.replayCell(cell)));
      host.stats.replayed();
      return {};
    },
    cellSettle: ({ sessionId, cellId, callId, answer }) => {
      hostedCells(sessions.get(sessionId)).settleCall(cellId, callId, answer);
      return {};
    },
    cellTerminate: async ({ sessionId, cellId }) => {
      const runtime = sessions.get(sessionId);
      const event = await stats.timed('terminated', () => runtime.terminate(cellId));
      sessions.flush(sessionId, cellId);
      return sessions.timings(sessionId).stamped(cellId, event);
    },
    sessionShutdown: async ({ sessionId }) => {
      const runtime = sessions.get(sessionId);
      // The client aborted this session's calls as it sent this. The runtime's shutdown aborts the
      // cells' signals first, which gives their calls up as in-process (one cell/cancel per cell,
      // which the client has nothing left to do for); what is left is given up here. Rejected
      // before the cells began to end, each call was a tool failure of a running cell: 10 000 of
      // them tripled the time of a shutdown.
      const done = stats.timed('shutDown', () => runtime.shutdown());
      host.rpc.abandon(
        (params) => (params as { sessionId?: unknown }).sessionId === sessionId,
        new CodeCellError('ERR_SHUTTING_DOWN', 'the session is shutting down'),
      );
      await done;
      await sessions.forget(sessionId);
      return {};
    },
    // The session ends with it (the client's session/shutdown that follows forgets it here).
    sessionSuspend: async ({ sessionId }) => ({ snapshot: await sessions.get(sessionId).suspend() }),
  };
}

/** session/create: admission, the runtime, and the setup cell run to its pending frontier. */
async function createSession(
  host: HostContext,
  params: ParamsOf<typeof Methods.sessionCreate>,
  request: IncomingRequest,
) {
  const receivedAt = performance.now();
  refuseNewSession(host);
  const { tools, limits, storedValues, setupSource, restore, mirror, moved, key, epoch } = params;
  if (epoch !== undefined && (!Number.isSafeInteger(epoch) || epoch < 1 || typeof key !== 'string'))
    throw invalidParams('epoch must be a whole number from 1, and goes with a key');
  if (restore !== undefined && setupSource !== undefined)
    throw new CodeCellError(
      'ERR_INVALID_REQUEST',
      'a resumed session runs no setup cell (its effects are in its stored values)',
    );
  // A host whose memory budget cannot take one more cell sends new sessions elsewhere.
  host.isolatePool?.assertRoomFor(
    (isPlainObject(limits) && typeof limits.memoryMb === 'number' ? limits.memoryMb : undefined) ??
      host.defaultLimits.memoryMb ??
      DEFAULT_LIMITS.memoryMb,
  );
  // A resumed session's paused cells are live cells of this connection from their start.
  if (restore !== undefined && Array.isArray(restore.pausedCells)) host.cells.assertRoom(restore.pausedCells.length);
  const sessionId = host.sessions.nextId();
  const deadlineMs =
    params.callbackAbortDeadlineMs ?? host.callbackAbortDeadlineMs ?? DEFAULT_CALLBACK_ABORT_DEADLINE_MS;
  const counted = host.stats.sessionObserver();
  const sessionLimits = limits === undefined || isPlainObject(limits) ? { ...host.defaultLimits, ...limits } : limits;
  const runtimeOptions: SessionRuntimeOptions = {
    key,
    tools,
    limits: sessionLimits,
    storedValues,
    callbackAbortDeadlineMs: deadlineMs,
    logger: host.logger,
    caps: host.caps,
    onCatastrophicError: (message, cellId) => host.catastrophe(message, { sessionId, cellId, mirror: mirror === true }),
    observer: (event) => {
      host.cells.observe(event);
      counted(event);
      if (event.type === 'admitted') host.sessions.timings(sessionId).began(event.cellId);
      else if (event.type === 'closed') {
        host.sessions.timings(sessionId).closed(event.cellId);
        host.sessions.cellClosed(sessionId, event.cellId);
      }
    },
    ...(host.isolatePool === undefined ? {} : { isolatePool: host.isolatePool }),
    // The client keeps each commit, to re-create the session elsewhere if this host is lost.
    ...(mirror === true
      ? { onStoredValuesCommitted: (values) => host.notify(Methods.sessionStored, { sessionId, values }) }
      : {}),
  };
  const delegate = forwardingDelegate(host, sessionId, {
    journalOf: (cellId, callId) => host.sessions.journalOf(sessionId, cellId, callId),
    answered: (cellId, callId) => host.sessions.answered(sessionId, cellId, callId),
    traceOf: (cellId) => host.sessions.traceOf(sessionId, cellId),
  });
  const runtime =
    restore === undefined
      ? new SessionRuntime(delegate, runtimeOptions)
      : SessionRuntime.resume({ version: 1, options: {}, ...restore }, delegate, runtimeOptions);
  host.sessions.add(sessionId, runtime);
  if (restore !== undefined) host.stats.restored(moved === true ? 'move' : 'snapshot');
  if (mirror === true) host.sessions.mirror(sessionId, new JournalMirror(hostedCells(runtime), host.notify, sessionId));
  try {
    // Held for the key until the session ends; ended at once when a newer owner of the key comes.
    const taken = (newer: number): void => void host.sessions.takenOver(sessionId, key as string, newer);
    if (epoch !== undefined) host.sessions.holds(sessionId, host.epochs.enter(key as string, epoch, taken));
    const started =
      setupSource === undefined
        ? undefined
        : await runtime.execute({ source: setupSource }, { kind: 'pendingFrontier' });
    // The client gave up before it learned the id: nobody will ever shut this session down.
    if (request.signal.aborted) throw new CodeCellError('ERR_CANCELLED', 'the client cancelled session/create');
    const maxToolResultBytes = sessionLimits.maxToolResultBytes ?? DEFAULT_LIMITS.maxToolResultBytes;
    const maxStoredBytes = sessionLimits.maxStoredBytes ?? DEFAULT_LIMITS.maxStoredBytes;
    const answer = {
      sessionId,
      callbackAbortDeadlineMs: deadlineMs,
      load: host.stats.load,
      maxToolResultBytes,
      maxStoredBytes,
      // A mirrored cell's start names its session's limits by reference: the client keeps these.
      ...(mirror === true ? { limits: hostedCells(runtime).sessionLimits } : {}),
    };
    if (started === undefined) return answer;
    host.sessions.timings(sessionId).received(started.cellId, receivedAt);
    host.sessions.sendInitialEvent(sessionId, started.cellId, started.initialEvent);
    return { ...answer, setupCellId: started.cellId };
  } catch (error) {
    await runtime.shutdown();
    await host.sessions.forget(sessionId);
    throw error;
  }
}

function refuseNewSession(host: HostContext): void {
  if (host.closing()) throw new CodeCellError('ERR_SHUTTING_DOWN', 'codecell-host is shutting down');
  if (!host.stats.accepting)
    throw new CodeCellError('ERR_SHUTTING_DOWN', 'codecell-host is draining: create the session on another host');
  if (host.sessions.size >= host.maxSessions)
    throw new CodeCellError(
      'ERR_LIMIT_EXCEEDED',
      `this connection already has ${host.maxSessions} sessions (the host's --max-sessions)`,
    );
}

const isPlainObject = (value: unknown): value is object =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
