// Creating a remote session on a host: the HostSession that session/create (session-create.ts)
// gives, its setup cell running.
import { CodeCellError, type CellLimits, type SessionRuntimeDelegate } from '../../src/index.js';
import { ledgerFigures, type LedgerFigures } from '../../src/internal.js';
import { HostSession, type Rehome } from './remote-session.js';
import type { HostLink } from './link.js';
import { createOnHost, type CreateParams, type RemoteSessionOptions } from './session-create.js';
import type { KeptLog } from './kept-sessions.js';

export type { RemoteSessionOptions } from './session-create.js';

/**
 * Creates a session on the link's host. Its setup cell (`setupSource`) is running when this
 * resolves: the caller waits for it (HostSession#setup), and never tries it on another host.
 */
export async function openRemoteSession(
  link: HostLink,
  delegate: SessionRuntimeDelegate,
  options: RemoteSessionOptions & { key: string },
  rehome: Rehome | undefined,
  kept?: KeptLog,
): Promise<HostSession> {
  const { signal, setupTimeoutMs: _, metadata, ...given } = options;
  if (metadata !== undefined && kept === undefined)
    throw new CodeCellError(
      'ERR_INVALID_REQUEST',
      'metadata goes with a store: HostClient.spawn({ store }) or connect',
    );
  // Re-homing, the session's figures are the client's own, said outright (within the host's caps):
  // what it keeps of the session is bounded by them, and the host's cannot differ.
  const params: CreateParams =
    rehome === undefined ? given : { ...given, limits: { ...given.limits, ...ownFigures(given.limits, link.limits) } };
  // A recovered session (its ledger from the store) is created as a moved one: no setup again.
  const moved = kept?.read === undefined ? {} : { moved: true };
  // With a store, each host it is created on (here, and where it moves) learns its lease's epoch.
  const fenced: CreateParams = kept === undefined ? params : { ...params, epoch: kept.epoch };
  const wire: CreateParams = rehome === undefined ? fenced : { ...fenced, mirror: true, ...moved };
  return createOnHost(link, wire, signal, (created) => new HostSession(link, created, delegate, fenced, rehome, kept));
}

/**
 * The session's ledger figures: what it set, else the defaults — those no larger than what the
 * host's `initialize` reports (its caps, where it has any: a default past one would be refused).
 */
function ownFigures(limits: Partial<CellLimits> | undefined, reported: Partial<CellLimits> | undefined): LedgerFigures {
  const figures = ledgerFigures(limits);
  for (const key of Object.keys(figures) as (keyof LedgerFigures)[]) {
    const cap = reported?.[key];
    if (limits?.[key] === undefined && typeof cap === 'number' && cap < figures[key]) figures[key] = cap;
  }
  return figures;
}
