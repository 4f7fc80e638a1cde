// host/client/ — what runs in the agent's process: HostClient (this file), one HostLink per host
// connection, RemoteSession (the session interface over a link), the delegate calls it serves
// (incoming-calls.ts) and session creation (open-session.ts). It imports src/ and wire/; tools,
// cli and the entry points may import it. The link talks to sessions through LinkedSession, an
// interface it owns, so link.ts never imports remote-session.ts.
//
// HostClient: runs codecell-host child processes (or connects to one host over streams), spreads
// sessions over them, respawns a process after it died, and creates sessions on them.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CodeCellError, type CellLimits, type Logger, type SessionRuntimeDelegate } from '../../src/index.js';
import { checkDelegate, consoleLogger } from '../../src/internal.js';
import { HostLink } from './link.js';
import { HOST_NODE_FLAGS } from '../wire/host-process.js';
import { openRemoteSession, type RemoteSessionOptions } from './open-session.js';
import type { RemoteSession } from './remote-session.js';

export interface HostClientOptions {
  /** The host command; default: this Node binary running codecell-host. */
  command?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Start a fresh host on the next createSession after the host died. Default true. */
  respawn?: boolean;
  /**
   * How many host processes sessions are spread over (each session lives on one; a process that
   * dies takes only its own sessions). Default: the machine's cores (`os.availableParallelism()`).
   */
  processes?: number;
  /** Where the host's stderr goes. Default 'inherit'. */
  stderr?: 'inherit' | 'ignore' | 'pipe';
  logger?: Logger;
  /**
   * While requests are outstanding, a host silent this long is pinged, and one that leaves the
   * ping unanswered as long again is killed and reported as ERR_HOST_EXITED. Default 5 000 ms.
   */
  livenessTimeoutMs?: number;
}

const HOST_MAIN = fileURLToPath(new URL('../server/main.js', import.meta.url));

/** One host process's place in the pool: its link, or the start of a fresh one. */
interface Slot {
  link: HostLink | undefined;
  starting: Promise<HostLink> | undefined;
  /** Sessions being created on it (not yet in `link.remotes`). */
  creating: number;
}

/** Starts and supervises codecell-host processes; creates sessions on them. */
export class HostClient {
  readonly #options: HostClientOptions;
  readonly #connect: () => HostLink;
  readonly #slots: Slot[];
  #closed = false;

  private constructor(options: HostClientOptions, processes: number, connect: () => HostLink) {
    this.#options = options;
    this.#connect = connect;
    this.#slots = Array.from({ length: processes }, () => ({ link: undefined, starting: undefined, creating: 0 }));
  }

  /** Spawns `codecell-host` (or `options.command`) processes and initializes them. */
  static async spawn(options: HostClientOptions = {}): Promise<HostClient> {
    const processes = options.processes ?? availableParallelism();
    if (!Number.isInteger(processes) || processes < 1) throw new CodeCellError('ERR_INVALID_REQUEST', `processes must be a positive integer, got ${String(processes)}`);
    const logger = options.logger ?? consoleLogger;
    const client = new HostClient(options, processes, () => {
      const child = spawn(options.command ?? process.execPath, options.args ?? [...HOST_NODE_FLAGS, HOST_MAIN], {
        stdio: ['pipe', 'pipe', options.stderr ?? 'inherit'],
        env: options.env ?? process.env,
      });
      const link = new HostLink(child.stdout as Readable, child.stdin as Writable, child, logger, options);
      child.on('error', (error) => link.die(new CodeCellError('ERR_HOST_EXITED', `codecell-host failed to start: ${error.message}`, { cause: error })));
      child.on('exit', (code, signal) => {
        link.die(new CodeCellError('ERR_HOST_EXITED', `codecell-host exited (code ${code ?? 'none'}, signal ${signal ?? 'none'})`));
        link.exited();
      });
      return link;
    });
    try {
      await Promise.all(client.#slots.map((slot) => client.#start(slot)));
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  /** Talks to a host over existing streams (e.g. an in-process host in tests). Never respawns. */
  static async connect(input: Readable, output: Writable, options: Omit<HostClientOptions, 'command' | 'args' | 'env' | 'respawn' | 'processes'> = {}): Promise<HostClient> {
    let used = false;
    const client = new HostClient({ ...options, respawn: false }, 1, () => {
      if (used) throw new CodeCellError('ERR_HOST_EXITED', 'the in-process host connection has ended');
      used = true;
      return new HostLink(input, output, undefined, options.logger ?? consoleLogger, options);
    });
    await client.#start(client.#slots[0] as Slot);
    return client;
  }

  /** The first host process's id (undefined for a stream connection); `pids` lists them all. */
  get pid(): number | undefined {
    return this.#slots[0]?.link?.child?.pid;
  }

  /** The id of each running host process, in pool order. */
  get pids(): number[] {
    return this.#slots.flatMap((slot) => (slot.link?.alive === true && slot.link.child?.pid !== undefined ? [slot.link.child.pid] : []));
  }

  /** The host-wide limits reported by `initialize`. */
  get limits(): CellLimits | undefined {
    return this.#slots.find((slot) => slot.link?.limits !== undefined)?.link?.limits;
  }

  /** Whether every host process of the pool is up. */
  get isConnected(): boolean {
    return this.#slots.every((slot) => slot.link?.alive === true);
  }

  /**
   * Creates a session on the least busy host process (starting a fresh host there if the last
   * one died). With `setupSource`, resolves once the setup cell reached its first frontier
   * (`setupEvent`); the creation is bounded by `setupTimeoutMs` and abandoned on `signal`,
   * shutting the session down.
   */
  async createSession(delegate: SessionRuntimeDelegate, options: RemoteSessionOptions = {}): Promise<RemoteSession> {
    checkDelegate(delegate);
    if (options === null || typeof options !== 'object') throw new CodeCellError('ERR_INVALID_REQUEST', 'options must be an object');
    if ('sessionId' in options) throw new CodeCellError('ERR_INVALID_REQUEST', 'sessionId is assigned by the host; do not pass one');
    options.signal?.throwIfAborted();
    if (this.#closed) throw new CodeCellError('ERR_SHUTTING_DOWN', 'the HostClient is closed');
    const slot = this.#pick();
    slot.creating++;
    try {
      const link = slot.link?.alive === true ? slot.link : await this.#start(slot);
      return await openRemoteSession(link, delegate, options);
    } finally {
      slot.creating--;
    }
  }

  /** Ends the hosts: their sessions are shut down and they exit. Harmless twice. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(
      this.#slots.map(async (slot) => {
        await slot.starting?.catch(() => {});
        await slot.link?.close();
      }),
    );
  }

  /** The slot with the fewest sessions (a dead one counts as empty when it can be respawned). */
  #pick(): Slot {
    const usable = this.#slots.filter((slot) => slot.link?.alive === true || slot.starting !== undefined || this.#options.respawn !== false);
    if (usable.length === 0) throw new CodeCellError('ERR_HOST_EXITED', 'codecell-host has exited and respawn is off');
    const load = (slot: Slot): number => slot.creating + (slot.link?.alive === true ? slot.link.remotes.size : 0);
    return usable.reduce((best, slot) => (load(slot) < load(best) ? slot : best));
  }

  /** Starts a host in the slot, once however many callers ask at the same time. */
  #start(slot: Slot): Promise<HostLink> {
    slot.starting ??= (async () => {
      const link = this.#connect();
      slot.link = link;
      await link.initialize();
      return link;
    })().finally(() => (slot.starting = undefined));
    return slot.starting;
  }
}
