// session/create on a host: what the host sends for the session before the client learned its
// id is held by the link's PendingRouter until the session is registered.
import {
  CodeCellError,
  type CellId,
  type CellLimits,
  type JsonValue,
  type SessionSnapshot,
  type ToolDefinition,
} from '../../src/index.js';
import { untilAborted } from '../wire/signals.js';
import { number, optional, recordOf } from '../wire/shape.js';
import { Methods, type SessionId } from '../wire/protocol.js';
import type { HostLink, LinkedSession } from './link.js';

/** What createSession on a host takes: the session's tools, limits, stored values and setup cell. */
export interface RemoteSessionOptions {
  tools?: ToolDefinition[];
  limits?: Partial<CellLimits>;
  storedValues?: 'enabled' | 'disabled';
  /** How long the host waits for cancelled callbacks of this session (default 100). */
  callbackAbortDeadlineMs?: number;
  /** Runs as the session's first cell while the session is being created (SPEC §8). */
  setupSource?: string;
  /**
   * The session's key (1–200 letters, digits or `_ . : / @ -`): its calls' idempotency keys
   * begin with it, on whichever host it lives. Default: a new random one.
   */
  key?: string;
  /** With the client's store: what `store.sessions()` and a recovery's `delegateFor` see of it (JSON). */
  metadata?: JsonValue;
  /** Abandons the creation (the host's session is shut down): rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Bound on the setup cell reaching its first frontier (default 60 000 ms). */
  setupTimeoutMs?: number;
  /** A suspended session's state (resumeSession). @internal */
  restore?: Pick<SessionSnapshot, 'storedValues' | 'nextCellId' | 'pausedCells'>;
}

/** What session/create answered, checked: the session's id on the host and its bounds. */
export interface CreatedSession {
  sessionId: SessionId;
  setupCellId: CellId | undefined;
  /** The session's callback abort deadline (the host's answer, else what was asked). */
  deadlineMs: number | undefined;
  /** The session's maxToolResultBytes (older hosts do not say). */
  maxResultBytes: number | undefined;
  /** The session's limits on this host (a mirrored session's: its cells' starts name them by reference). */
  limits: CellLimits | undefined;
}

/** session/create's params: the session's own options, what a resume restores, and the mirror. */
export type CreateParams = Omit<RemoteSessionOptions, 'signal' | 'setupTimeoutMs' | 'key' | 'metadata'> & {
  key: string;
  mirror?: boolean;
  moved?: boolean;
  /** With a store: the fencing epoch of the client's lease on the session (SPEC §16). */
  epoch?: number;
};

/**
 * session/create on the link's host; `attach` makes (or moves) the session that receives what
 * the host sends for it, before anything of it is routed.
 */
export async function createOnHost<S extends LinkedSession>(
  link: HostLink,
  params: CreateParams,
  signal: AbortSignal | undefined,
  attach: (created: CreatedSession) => S,
): Promise<S> {
  // Held until the session is registered: what the host sends for it meanwhile is kept.
  using _held = link.sessions.begin();
  const answer = link.request(Methods.sessionCreate, params, signal);
  let result: Awaited<typeof answer>;
  try {
    result = await untilAborted(answer, signal);
  } catch (error) {
    // Abandoned before the answer: a session the host still creates is shut down at once.
    if (signal?.aborted === true) {
      answer
        .then(
          ({ sessionId }) => link.request(Methods.sessionShutdown, { sessionId }),
          () => {},
        )
        .catch(() => {});
    }
    throw error;
  }
  const { sessionId, setupCellId, callbackAbortDeadlineMs, load, maxToolResultBytes, limits } = result as Partial<
    typeof result
  >;
  link.loadReported?.(load);
  if (
    typeof sessionId !== 'string' ||
    sessionId === '' ||
    (setupCellId !== undefined && typeof setupCellId !== 'string')
  ) {
    throw new CodeCellError(
      'ERR_PROTOCOL',
      `codecell-host answered session/create without a valid sessionId: ${JSON.stringify(result)}`,
    );
  }
  const session = attach({
    sessionId,
    setupCellId,
    deadlineMs: typeof callbackAbortDeadlineMs === 'number' ? callbackAbortDeadlineMs : params.callbackAbortDeadlineMs,
    maxResultBytes: typeof maxToolResultBytes === 'number' ? maxToolResultBytes : undefined,
    limits: sessionLimits(limits) === undefined ? (limits as CellLimits) : undefined,
  });
  link.remotes.set(sessionId, session);
  link.hold();
  link.sessions.register(sessionId, (entry) => session.receive(entry));
  return session;
}

/** The session's limits as a host says them: a record of numbers, or nothing (undefined: they fit). */
const sessionLimits = optional(recordOf(number));
