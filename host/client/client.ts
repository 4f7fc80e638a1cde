// host/client/ — what runs in the agent's process: HostClient (this file), one HostLink per host
// connection, RemoteSession (the session interface over a link), the delegate calls it serves
// (incoming-calls.ts) and session creation (open-session.ts). It imports src/ and wire/; tools,
// cli and the entry points may import it. The link talks to sessions through LinkedSession, an
// interface it owns, so link.ts never imports remote-session.ts.
//
// HostClient: runs codecell-host child processes, or connects to hosts over the network (or to
// one host over streams); places each new session on the least-loaded host that accepts it,
// restarts or reconnects a host after it died, and creates sessions on them.
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import {
  CodeCellError,
  type CellLimits,
  type RecoveryInfo,
  type SessionRuntimeDelegate,
  type SessionSnapshot,
} from '../../src/index.js';
import { checkDelegate, checkSessionKey, checkSnapshot, consoleLogger } from '../../src/internal.js';
import { HostLink, type RehomeOptions } from './link.js';
import { keptSessions, type KeptLog, type KeptSessions } from './kept-sessions.js';
import { spawnLink, type HostClientOptions } from './spawn-link.js';
import { checkNetworkOptions, connectSocket, findHosts, type FoundHost, type NetworkOptions } from './network.js';
import { HostSlot, type SlotKind } from './slot.js';
import { streamCarrier } from '../wire/framing.js';
import { Methods } from '../wire/protocol.js';
import { openRemoteSession, type RemoteSessionOptions } from './open-session.js';
import type { HostSession, Rehome, RemoteSession } from './remote-session.js';

export type { HostClientOptions } from './spawn-link.js';

/**
 * Refusals of session/create after which the session is tried on another host: nothing of it ran
 * yet (the host drains, is full, or is gone). A setup cell that started is never run twice.
 */
const GO_ELSEWHERE = new Set(['ERR_SHUTTING_DOWN', 'ERR_HOST_EXITED', 'ERR_HOST_UNREACHABLE', 'ERR_LIMIT_EXCEEDED']);

/** How long a session whose host was lost waits for one to take it (a host restarting comes back). */
const REHOME_PATIENCE_MS = 5_000;
const REHOME_RETRY_MS = 200;

/** Starts and supervises codecell-host processes, or follows hosts on the network; creates sessions on them. */
export class HostClient {
  readonly #slots: HostSlot[];
  #closed = false;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  /** How a session moves to another host (undefined: `rehome: false`). */
  readonly #rehome: Rehome | undefined;
  /** With a store: where the client's sessions are kept (SPEC §16). */
  readonly #kept: KeptSessions | undefined;

  private constructor(slots: HostSlot[], options: RehomeOptions) {
    this.#kept = keptSessions(options);
    this.#slots = slots;
    this.#rehome = options.rehome !== false ? (create, from) => this.#replace(create, from) : undefined;
  }

  /** Spawns `codecell-host` (or `options.command`) processes and initializes them. */
  static async spawn(options: HostClientOptions = {}): Promise<HostClient> {
    const processes = options.processes ?? availableParallelism();
    if (!Number.isInteger(processes) || processes < 1)
      throw new CodeCellError('ERR_INVALID_REQUEST', `processes must be a positive integer, got ${String(processes)}`);
    const logger = options.logger ?? consoleLogger;
    const kind: SlotKind = {
      network: false,
      restart: options.respawn !== false,
      connect: () => spawnLink(options, logger),
    };
    const slots = Array.from({ length: processes }, () => new HostSlot('process', kind));
    const client = new HostClient(slots, options);
    try {
      // One process now; the others as sessions need them (a slot not started counts as empty).
      await (client.#slots[0] as HostSlot).start();
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  /**
   * Connects to codecell-host over the network (`{ hosts, token }`: see NetworkOptions), or to
   * one host over existing streams (e.g. an in-process host in tests; never restarted). Over the
   * network, rejects when no host could be reached.
   */
  static async connect(options: NetworkOptions): Promise<HostClient>;
  static async connect(
    input: Readable,
    output: Writable,
    options?: Omit<HostClientOptions, 'command' | 'args' | 'env' | 'respawn' | 'processes'>,
  ): Promise<HostClient>;
  static async connect(
    first: NetworkOptions | Readable,
    output?: Writable,
    options: Omit<HostClientOptions, 'command' | 'args' | 'env' | 'respawn' | 'processes'> = {},
  ): Promise<HostClient> {
    if (output === undefined) return HostClient.#connectNetwork(first as NetworkOptions);
    const input = first as Readable;
    const logger = options.logger ?? consoleLogger;
    const kind: SlotKind = {
      network: false,
      restart: false,
      connect: () => new HostLink(streamCarrier(input, output), undefined, logger, options),
    };
    const client = new HostClient([new HostSlot('streams', kind)], { ...options, rehome: false });
    await (client.#slots[0] as HostSlot).start();
    return client;
  }

  static async #connectNetwork(options: NetworkOptions): Promise<HostClient> {
    if (options === null || typeof options !== 'object')
      throw new CodeCellError(
        'ERR_INVALID_REQUEST',
        'HostClient.connect takes { hosts, token } (or an input and an output stream)',
      );
    checkNetworkOptions(options);
    const logger = options.logger ?? consoleLogger;
    const client = new HostClient([], options);
    const slotFor = (host: FoundHost): HostSlot =>
      new HostSlot(host.url, { network: true, restart: true, connect: () => connectSocket(host, options, logger) });
    const { hosts } = await findHosts({ ...options, logger });
    if (hosts.length === 0)
      throw new CodeCellError('ERR_HOST_UNREACHABLE', `no codecell-host found for ${JSON.stringify(options.hosts)}`);
    client.#slots.push(...hosts.map(slotFor));
    const started = await Promise.allSettled(client.#slots.map((slot) => slot.start()));
    if (!started.some((result) => result.status === 'fulfilled')) {
      await client.close();
      throw (started.find((result) => result.status === 'rejected') as PromiseRejectedResult).reason;
    }
    client.#every(options.statusIntervalMs ?? 1_000, () => client.#checkHosts());
    if (options.hosts.some((entry) => typeof entry !== 'string')) {
      client.#every(options.resolveIntervalMs ?? 5_000, async () => {
        const found = await findHosts({ ...options, logger });
        const urls = new Set(found.hosts.map((host) => host.url));
        for (const host of found.hosts) {
          // A host back in the answer (a readiness flap) takes new sessions again.
          const known = client.#slots.find((slot) => slot.name === host.url);
          if (known === undefined) client.#slots.push(slotFor(host));
          else known.retired = false;
        }
        if (found.complete) for (const slot of client.#slots) if (!urls.has(slot.name)) slot.retired = true;
      });
    }
    return client;
  }

  /** The first host process's id (undefined over the network or streams); `pids` lists them all. */
  get pid(): number | undefined {
    return this.#slots[0]?.link?.child?.pid;
  }

  /** The id of each running host process, in pool order. */
  get pids(): number[] {
    return this.#slots.flatMap((slot) =>
      slot.alive && slot.link?.child?.pid !== undefined ? [slot.link.child.pid] : [],
    );
  }

  /** The hosts this client reaches now: each one's name (URL, or process) and whether it takes new sessions. */
  get hosts(): { host: string; connected: boolean; accepting: boolean; sessions: number }[] {
    return this.#slots.map((slot) => ({
      host: slot.link?.name ?? slot.name,
      connected: slot.alive,
      // A host this client cannot reach now takes no session from it (a spawned one not started
      // yet does: it starts when a session needs it).
      accepting: (slot.alive || slot.unstarted) && slot.accepting,
      sessions: slot.link?.remotes.size ?? 0,
    }));
  }

  /** The host-wide limits reported by `initialize`. */
  get limits(): CellLimits | undefined {
    return this.#slots.find((slot) => slot.link?.limits !== undefined)?.link?.limits;
  }

  /** Whether every host of the client is up (a spawned one not needed yet counts as up). */
  get isConnected(): boolean {
    return this.#slots.every((slot) => slot.alive || slot.retired || slot.unstarted);
  }

  /**
   * Creates a session on the least-loaded host that accepts sessions (starting a fresh host, or
   * connecting again, if need be); a host that refuses it (draining, full, gone) passes it to
   * the next (only before anything of the session ran). With `setupSource`, resolves once the
   * setup cell reached its first frontier (`setupEvent`); the setup is bounded by `setupTimeoutMs`
   * (ERR_SETUP_TIMEOUT, the session shut down) and abandoned on `signal`.
   */
  async createSession(delegate: SessionRuntimeDelegate, options: RemoteSessionOptions = {}): Promise<RemoteSession> {
    checkDelegate(delegate);
    if (options === null || typeof options !== 'object')
      throw new CodeCellError('ERR_INVALID_REQUEST', 'options must be an object');
    if ('sessionId' in options)
      throw new CodeCellError('ERR_INVALID_REQUEST', 'sessionId is assigned by the host; do not pass one');
    // One key, whichever host takes the session (and every host it moves to).
    const key = checkSessionKey(options.key, 'options.key') ?? randomUUID();
    options.signal?.throwIfAborted();
    if (this.#closed) throw new CodeCellError('ERR_SHUTTING_DOWN', 'the HostClient is closed');
    const kept = await this.#kept?.create(key, options.metadata);
    // A key whose session ended before: its ids go on after that one's (no idempotency key repeats).
    const after = kept?.nextCellId === undefined ? {} : { restore: { storedValues: {}, nextCellId: kept.nextCellId } };
    const session = await this.#place(delegate, { ...options, key, ...after }, kept).catch(async (error: unknown) => {
      await kept?.log.end(true);
      throw error;
    });
    await session.setup(options.signal, options.setupTimeoutMs);
    return session;
  }

  /**
   * Adopts the sessions of this client's store whose owner is gone (SPEC §16), each created again
   * on a host, live, as SessionRuntime.recover does in process; `keys`: only these; `waitMs`:
   * leases that end within it are waited for and adopted as they end (see RecoverOptions).
   */
  async recover(
    delegateFor: (
      info: RecoveryInfo,
    ) => SessionRuntimeDelegate | undefined | Promise<SessionRuntimeDelegate | undefined>,
    options: { keys?: string[]; waitMs?: number } = {},
  ): Promise<RemoteSession[]> {
    if (this.#kept === undefined)
      throw new CodeCellError('ERR_INVALID_REQUEST', 'recover needs a store: HostClient.spawn({ store }) or connect');
    return this.#kept.recover(delegateFor, options, async (delegate, sessionOptions, kept) => {
      const session = await this.#place(delegate, sessionOptions, kept);
      await session.recovered();
      return session;
    });
  }

  /** Creates the session on the first host, least loaded first, that takes it. */
  async #place(
    delegate: SessionRuntimeDelegate,
    options: RemoteSessionOptions & { key: string },
    kept?: KeptLog,
  ): Promise<HostSession> {
    const tried = new Set<HostSlot>();
    let lastError: unknown;
    for (let slot = this.#pick(tried); slot !== undefined; slot = this.#pick(tried)) {
      tried.add(slot);
      slot.creating++;
      try {
        const link = slot.alive && slot.link !== undefined ? slot.link : await slot.start();
        return await openRemoteSession(link, delegate, options, this.#rehome, kept);
      } catch (error) {
        const code = error instanceof CodeCellError ? error.code : '';
        if (!slot.network || options.signal?.aborted === true || !GO_ELSEWHERE.has(code)) throw error;
        if (code === 'ERR_SHUTTING_DOWN') slot.refused();
        lastError = error;
      } finally {
        slot.creating--;
      }
    }
    throw lastError ?? this.#noHost();
  }

  /**
   * Creates a lost or draining session again on another host (`create`), least loaded first;
   * for a lost host, waiting up to REHOME_PATIENCE_MS for one (a host being restarted). Rejects
   * when none took it.
   */
  async #replace(create: (link: HostLink) => Promise<unknown>, from: HostLink): Promise<void> {
    const until = performance.now() + REHOME_PATIENCE_MS;
    let lastError: unknown;
    while (!this.#closed) {
      // A draining host that is still up is not taken again; a dead one's slot may be (restarted).
      const tried = new Set<HostSlot>(this.#slots.filter((slot) => slot.link === from && from.alive));
      for (let slot = this.#pick(tried); slot !== undefined; slot = this.#pick(tried)) {
        tried.add(slot);
        slot.creating++;
        try {
          await create(slot.alive && slot.link !== undefined ? slot.link : await slot.start());
          return;
        } catch (error) {
          if (!(error instanceof CodeCellError && GO_ELSEWHERE.has(error.code))) throw error;
          if (error.code === 'ERR_SHUTTING_DOWN') slot.refused();
          lastError = error;
        } finally {
          slot.creating--;
        }
      }
      // A hand-off from a draining host that is still up tries once: the session stays there.
      if (from.alive || performance.now() >= until) break;
      await new Promise((resolve) => setTimeout(resolve, REHOME_RETRY_MS));
    }
    throw lastError ?? this.#noHost();
  }

  /**
   * A live session from a snapshot (`suspend()` of a remote or in-process session), on the
   * least-loaded host that takes it: the same options and stored values, and cell ids that
   * continue. `options` may add a `signal`; a snapshot runs no setup cell. A malformed,
   * foreign-version or oversized snapshot is refused with ERR_INVALID_REQUEST.
   */
  async resumeSession(
    snapshot: SessionSnapshot,
    delegate: SessionRuntimeDelegate,
    options: { signal?: AbortSignal } = {},
  ): Promise<RemoteSession> {
    checkDelegate(delegate);
    const { snapshot: checked } = checkSnapshot(snapshot);
    if (options === null || typeof options !== 'object')
      throw new CodeCellError('ERR_INVALID_REQUEST', 'options must be an object');
    if (checked.options.deterministic !== undefined)
      throw new CodeCellError(
        'ERR_INVALID_REQUEST',
        'a deterministic session resumes in process (SessionRuntime.resume)',
      );
    const { storedValues, nextCellId, pausedCells } = checked;
    const restore = { storedValues, nextCellId, ...(pausedCells === undefined ? {} : { pausedCells }) };
    return this.createSession(delegate, {
      ...checked.options,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      restore,
    });
  }

  /** Ends the hosts (spawned ones exit; network connections close, and their sessions end). Harmless twice. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    await this.#kept?.leaveAll();
    await Promise.all(this.#slots.map((slot) => slot.close()));
  }

  /**
   * The least-loaded host that accepts sessions, of those not tried yet. A spawned host that died
   * counts as empty (it is started again); a network host that is down is tried only when no
   * host is up, once its backoff passed.
   */
  #pick(tried: Set<HostSlot>): HostSlot | undefined {
    const open = this.#slots.filter((slot) => !tried.has(slot) && slot.accepting);
    const up = open.filter((slot) => slot.alive || (!slot.network && (slot.starting || slot.restartable)));
    const candidates = up.length > 0 ? up : open.filter((slot) => slot.starting || slot.restartable);
    if (candidates.length === 0) return undefined;
    return candidates.reduce((best, slot) => (slot.load < best.load ? slot : best));
  }

  #noHost(): CodeCellError {
    if (this.#slots.every((slot) => !slot.network))
      return new CodeCellError('ERR_HOST_EXITED', 'codecell-host has exited and respawn is off');
    const up = this.#slots.filter((slot) => slot.alive && !slot.retired);
    if (up.length > 0 && up.every((slot) => !slot.accepting))
      return new CodeCellError('ERR_SHUTTING_DOWN', 'every codecell-host is draining: none takes new sessions now');
    const why = this.#slots.find((slot) => slot.lastError !== undefined)?.lastError?.message;
    return new CodeCellError(
      'ERR_HOST_UNREACHABLE',
      `no codecell-host accepts sessions now${why === undefined ? '' : ` (last failure: ${why})`}`,
    );
  }

  /**
   * Asks each connected host for its load; reconnects those that are down (after their
   * backoff); drops retired ones once idle.
   */
  #checkHosts(): void {
    for (const slot of [...this.#slots]) {
      const link = slot.link;
      if (slot.retired) {
        if (link === undefined || !link.alive || link.remotes.size === 0) {
          this.#slots.splice(this.#slots.indexOf(slot), 1);
          void slot.close();
        }
      } else if (slot.alive && link !== undefined) {
        link.request(Methods.hostPing, {}).then(
          ({ load }) => slot.report(load),
          () => {},
        );
      } else if (!slot.starting && slot.restartable) {
        slot.start().catch(() => {});
      }
    }
  }

  #every(ms: number, task: () => void | Promise<void>): void {
    const timer = setInterval(
      () =>
        void Promise.resolve()
          .then(task)
          .catch(() => {}),
      ms,
    );
    timer.unref();
    this.#timers.push(timer);
  }
}
