// host/server/ — what runs in the codecell-host process: createHost (this file), its request
// handlers (handlers.ts) and sessions (served-sessions.ts), the network listener (listen.ts) and
// the process entry (main.ts). It imports src/, wire/ and cli/host-args.ts (its command line);
// only host/index.ts and the testing entry import it.
//
// codecell-host's server: a thin adapter from JSON-RPC requests onto SessionRuntime. Sessions and
// their delegates live here; every runtime decision stays in src/.
import type { Readable, Writable } from 'node:stream';
import { CodeCellError, type CellLimits, type IsolatePool, type Logger } from '../../src/index.js';
import { checkLimits, consoleLogger } from '../../src/internal.js';
import type { Carrier } from '../wire/carrier.js';
import { MAX_BODY_BYTES, streamCarrier } from '../wire/framing.js';
import { RpcConnection } from '../wire/rpc.js';
import { Methods } from '../wire/protocol.js';
import { hostHandlers, type HostContext } from './handlers.js';
import { ServedSessions } from './served-sessions.js';
import { SessionEpochs } from './session-epochs.js';
import { ConnectionCells, HostStats } from './stats.js';

/** Where createHost reads and writes, and the bounds of the connection it serves. */
export interface HostOptions {
  input?: Readable;
  output?: Writable;
  /**
   * What carries the messages instead of `input`/`output` (e.g. a WebSocket: host/wire/websocket.ts).
   * @internal
   */
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
  /**
   * How long messages may wait while the client reads none of them before the host gives the
   * connection up and shuts its sessions down. None by default (served: 5 s, ListenOptions).
   */
  maxStallMs?: number;
  /**
   * V8 lost control of an isolate; the process should end (codecell-host's main exits, once
   * `noticeSent` settled or a moment passed: the notice naming the cell to its client, if any).
   */
  onCatastrophicError?: (message: string, noticeSent: Promise<void>) => void;
  /**
   * The process's load and metrics, shared by all its connections (codecell-host --listen);
   * default: this connection's own. While `stats.accepting` is false, session/create is refused
   * with ERR_SHUTTING_DOWN ("go elsewhere").
   * @internal
   */
  stats?: HostStats;
  /** The largest message the carrier reads, reported by `initialize` (default: the stdio frame bound, 256 MiB). */
  maxMessageBytes?: number;
  /** How many sessions this connection may have at once (default: unbounded). */
  maxSessions?: number;
  /** How many cells this connection's sessions may have live at once (default: unbounded). */
  maxLiveCells?: number;
  /** Session limits used where a session does not set its own (under the caps; default DEFAULT_LIMITS). */
  defaultLimits?: Partial<CellLimits>;
  /**
   * Where the sessions' cells get their isolates: codecell-host gives every connection one pool
   * whose memory budget fits the process (memory-budget.ts). Default: the process's shared pool.
   */
  isolatePool?: IsolatePool;
}

/** A codecell-host connection being served (createHost). */
export interface Host {
  /** Resolves once the input closed and every session was shut down. */
  readonly closed: Promise<void>;
  /**
   * Shuts every session down and closes the connection. At the end of a drain (`drained`), a
   * client that hands its sessions off hears nothing more: the cells still running are lost
   * with the connection, which it reports as such (SPEC §13), not as shut down.
   */
  close(options?: { drained?: boolean }): Promise<void>;
  /** Tells the client the host drains: the connection ends `graceMs` from now (host/draining). */
  draining(graceMs: number): void;
}

/** Serves protocol v2 on one connection (stdio by default) until its input ends; codecell-host's main runs it. */
export function createHost(options: HostOptions = {}): Host {
  const logger = options.logger ?? consoleLogger;
  const carrier = options.carrier ?? streamCarrier(options.input ?? process.stdin, options.output ?? process.stdout);
  const stats = options.stats ?? new HostStats();
  const rpc = new RpcConnection(carrier, logger, {
    ...(options.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: options.maxQueuedBytes }),
    ...(options.maxStallMs === undefined ? {} : { maxStallMs: options.maxStallMs }),
    // A client that stopped reading is given up: its sessions end (it never grows without bound).
    overflow: () => void close(),
  });
  const notify: HostContext['notify'] = (method, params) => rpc.notify(method, params);
  const sessions = new ServedSessions(notify, logger, stats);
  const peer = { handOff: false };
  let closing: Promise<void> | undefined;
  const handlers = hostHandlers({
    sessions,
    rpc,
    cells: new ConnectionCells(options.maxLiveCells ?? Number.POSITIVE_INFINITY),
    stats,
    logger,
    notify,
    caps: checkLimits(options.caps, 'options.caps'),
    defaultLimits: checkLimits(options.defaultLimits, 'options.defaultLimits'),
    isolatePool: options.isolatePool,
    maxSessions: options.maxSessions ?? Number.POSITIVE_INFINITY,
    maxMessageBytes: options.maxMessageBytes ?? MAX_BODY_BYTES,
    callbackAbortDeadlineMs: options.callbackAbortDeadlineMs,
    catastrophe: (message, { sessionId, cellId, mirror }) => {
      // It leaves at once: the process is about to end.
      if (mirror) rpc.notify(Methods.hostCatastrophe, { sessionId, cellId, message }, true);
      options.onCatastrophicError?.(message, rpc.flush());
    },
    closing: () => closing !== undefined,
    peer,
    epochs: new SessionEpochs(),
  });
  rpc.serve(handlers);

  const { promise: closed, resolve: markClosed } = Promise.withResolvers<void>();
  const close = (options: { drained?: boolean } = {}): Promise<void> => {
    const gone = new CodeCellError('ERR_HOST_EXITED', 'codecell-host is closing');
    // What a handing-off client would take for a shutdown of its own is never sent.
    if (closing === undefined && options.drained === true && peer.handOff) rpc.close(gone);
    closing ??= sessions
      .shutdownAll()
      .then(() => rpc.close(gone))
      .finally(async () => {
        await rpc.flush().catch(() => {});
        markClosed();
      });
    return closing;
  };
  carrier.onEnd(() => void close());
  rpc.listen();
  const draining = (graceMs: number): void => rpc.notify(Methods.hostDraining, { graceMs });
  return { closed, close, draining };
}
