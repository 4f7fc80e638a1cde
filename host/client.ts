// HostClient: runs codecell-host as a child process (or connects to one over streams), respawns
// it after it died, and creates sessions on it.
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CodeCellError, type CellLimits, type Logger, type SessionRuntimeDelegate } from '../src/index.js';
import { checkDelegate, consoleLogger } from '../src/internal.js';
import { HostLink } from './link.js';
import type { RemoteSession, RemoteSessionOptions } from './remote-session.js';

export interface HostClientOptions {
  /** The host command; default: this Node binary running codecell-host. */
  command?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Start a fresh host on the next createSession after the host died. Default true. */
  respawn?: boolean;
  /** Where the host's stderr goes. Default 'inherit'. */
  stderr?: 'inherit' | 'ignore' | 'pipe';
  logger?: Logger;
  /**
   * While requests are outstanding, a host silent this long is pinged, and one that leaves the
   * ping unanswered as long again is killed and reported as ERR_HOST_EXITED. Default 5 000 ms.
   */
  livenessTimeoutMs?: number;
}

const HOST_MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

/** Starts and supervises codecell-host; creates sessions on it. */
export class HostClient {
  readonly #options: HostClientOptions;
  readonly #connect: () => HostLink;
  #link: HostLink | undefined;
  #closed = false;

  private constructor(options: HostClientOptions, connect: () => HostLink) {
    this.#options = options;
    this.#connect = connect;
  }

  /** Spawns `codecell-host` (or `options.command`) and initializes it. */
  static async spawn(options: HostClientOptions = {}): Promise<HostClient> {
    const logger = options.logger ?? consoleLogger;
    const client = new HostClient(options, () => {
      const child = spawn(options.command ?? process.execPath, options.args ?? ['--no-node-snapshot', HOST_MAIN], {
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
    await client.#start();
    return client;
  }

  /** Talks to a host over existing streams (e.g. an in-process host in tests). Never respawns. */
  static async connect(input: Readable, output: Writable, options: Omit<HostClientOptions, 'command' | 'args' | 'env' | 'respawn'> = {}): Promise<HostClient> {
    let used = false;
    const client = new HostClient({ ...options, respawn: false }, () => {
      if (used) throw new CodeCellError('ERR_HOST_EXITED', 'the in-process host connection has ended');
      used = true;
      return new HostLink(input, output, undefined, options.logger ?? consoleLogger, options);
    });
    await client.#start();
    return client;
  }

  /** The current host process id (undefined for a stream connection). */
  get pid(): number | undefined {
    return this.#link?.child?.pid;
  }

  /** The host-wide limits reported by `initialize`. */
  get limits(): CellLimits | undefined {
    return this.#link?.limits;
  }

  get isConnected(): boolean {
    return this.#link?.alive === true;
  }

  /**
   * Creates a session on the host (starting a fresh host if the last one died). With
   * `setupSource`, resolves once the setup cell reached its first frontier (`setupEvent`); the
   * creation is bounded by `setupTimeoutMs` and abandoned on `signal`, shutting the session down.
   */
  async createSession(delegate: SessionRuntimeDelegate, options: RemoteSessionOptions = {}): Promise<RemoteSession> {
    checkDelegate(delegate);
    if (options === null || typeof options !== 'object') throw new CodeCellError('ERR_INVALID_REQUEST', 'options must be an object');
    if ('sessionId' in options) throw new CodeCellError('ERR_INVALID_REQUEST', 'sessionId is assigned by the host; do not pass one');
    options.signal?.throwIfAborted();
    if (this.#closed) throw new CodeCellError('ERR_SHUTTING_DOWN', 'the HostClient is closed');
    if (this.#link === undefined || !this.#link.alive) {
      if (this.#options.respawn === false) throw new CodeCellError('ERR_HOST_EXITED', 'codecell-host has exited and respawn is off');
      await this.#start();
    }
    const link = this.#link;
    if (link === undefined) throw new CodeCellError('ERR_HOST_EXITED', 'codecell-host is not running');
    return link.createSession(delegate, options);
  }

  /** Ends the host: its sessions are shut down and it exits. Harmless twice. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#link?.close();
  }

  async #start(): Promise<void> {
    const link = this.#connect();
    this.#link = link;
    await link.initialize();
  }
}
