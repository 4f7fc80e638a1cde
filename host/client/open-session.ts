// Creating a session on a host (session/create): what the host sends for the session before the
// client learned its id is held by the link's PendingRouter until the session is registered.
import {
  CodeCellError,
  type CellLimits,
  type SessionRuntimeDelegate,
  type SessionSnapshot,
  type ToolDefinition,
} from '../../src/index.js';
import { untilAborted } from '../wire/signals.js';
import { Methods } from '../wire/protocol.js';
import type { HostLink } from './link.js';
import { HostSession } from './remote-session.js';

/** What createSession on a host takes: the session's tools, limits, stored values and setup cell. */
export interface RemoteSessionOptions {
  tools?: ToolDefinition[];
  limits?: Partial<CellLimits>;
  storedValues?: 'enabled' | 'disabled';
  /** How long the host waits for cancelled callbacks of this session (default 100). */
  callbackAbortDeadlineMs?: number;
  /** Runs as the session's first cell while the session is being created (SPEC §8). */
  setupSource?: string;
  /** Abandons the creation (the host's session is shut down): rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Bound on the setup cell reaching its first frontier (default 60 000 ms). */
  setupTimeoutMs?: number;
  /** A suspended session's state (resumeSession). @internal */
  restore?: Pick<SessionSnapshot, 'storedValues' | 'nextCellId'>;
}

/**
 * Creates a session on the link's host. Its setup cell (`setupSource`) is running when this
 * resolves: the caller waits for it (HostSession#setup), and never tries it on another host.
 */
export async function openRemoteSession(
  link: HostLink,
  delegate: SessionRuntimeDelegate,
  options: RemoteSessionOptions,
): Promise<HostSession> {
  const { signal, setupTimeoutMs: _, ...wire } = options;
  // Held until the session is registered: what the host sends for it meanwhile is kept.
  using _held = link.sessions.begin();
  const answer = link.request(Methods.sessionCreate, wire, signal);
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
  const { sessionId, setupCellId, callbackAbortDeadlineMs, load, maxToolResultBytes } = result as Partial<
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
  const deadlineMs =
    typeof callbackAbortDeadlineMs === 'number' ? callbackAbortDeadlineMs : options.callbackAbortDeadlineMs;
  const maxResultBytes = typeof maxToolResultBytes === 'number' ? maxToolResultBytes : undefined;
  const session = new HostSession(link, sessionId, delegate, setupCellId, deadlineMs, maxResultBytes);
  link.remotes.set(sessionId, session);
  link.sessions.register(sessionId, (entry) => session.receive(entry));
  return session;
}
