// Creating a remote session on a host: the HostSession that session/create (session-create.ts)
// gives, its setup cell running.
import type { SessionRuntimeDelegate } from '../../src/index.js';
import { HostSession, type Rehome } from './remote-session.js';
import type { HostLink } from './link.js';
import { createOnHost, type CreateParams, type RemoteSessionOptions } from './session-create.js';

export type { RemoteSessionOptions } from './session-create.js';

/**
 * Creates a session on the link's host. Its setup cell (`setupSource`) is running when this
 * resolves: the caller waits for it (HostSession#setup), and never tries it on another host.
 */
export async function openRemoteSession(
  link: HostLink,
  delegate: SessionRuntimeDelegate,
  options: RemoteSessionOptions,
  rehome: Rehome | undefined,
): Promise<HostSession> {
  const { signal, setupTimeoutMs: _, ...params } = options;
  const wire: CreateParams = rehome === undefined ? params : { ...params, mirror: true };
  return createOnHost(link, wire, signal, (created) => new HostSession(link, created, delegate, params, rehome));
}
