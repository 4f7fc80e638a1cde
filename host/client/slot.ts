// One host's place in a HostClient: its link (or the start of a fresh one), the sessions being
// created on it, the load it last reported, and when it may be tried again after it failed.
// HostClient places each new session on the least-loaded slot that can take it.
import type { HostLoad } from '../wire/protocol.js';
import type { HostLink } from './link.js';

/** Reconnection waits: 100 ms after a failure, doubling per failure in a row, at most 5 s. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;

export interface SlotKind {
  /** Opens a link to the host (spawning it, or connecting over the network) and initializes it. */
  connect(): HostLink | Promise<HostLink>;
  /** A spawned host is started again at once; a network host after a backoff. */
  readonly network: boolean;
  /** Whether a host that died may be started again. */
  readonly restart: boolean;
}

export class HostSlot {
  readonly name: string;
  readonly #kind: SlotKind;
  link: HostLink | undefined;
  #starting: Promise<HostLink> | undefined;
  /** Sessions being created on it (not yet in `link.remotes`). */
  creating = 0;
  /** Left the host list (a DNS answer dropped it): no new sessions; its own stay. */
  retired = false;
  /** What the host last reported, and how many of this client's sessions it had then. */
  #report: { load: HostLoad; own: number } | undefined;
  #failures = 0;
  #retryAt = 0;
  #lastError: Error | undefined;

  constructor(name: string, kind: SlotKind) {
    this.name = name;
    this.#kind = kind;
  }

  get alive(): boolean {
    return this.link?.alive === true;
  }

  get starting(): boolean {
    return this.#starting !== undefined;
  }

  /** A spawned host's slot that no session needed yet: it has never been started. */
  get unstarted(): boolean {
    return !this.#kind.network && this.link === undefined && this.#starting === undefined;
  }

  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** Whether it accepts new sessions as far as this client knows (a draining host does not). */
  get accepting(): boolean {
    return !this.retired && this.#report?.load.accepting !== false;
  }

  /** Whether a fresh link may be started now (after a death or a failed connection). */
  get restartable(): boolean {
    if (this.retired) return false;
    if (!this.#kind.restart) return this.link === undefined;
    return !this.#kind.network || performance.now() >= this.#retryAt;
  }

  get network(): boolean {
    return this.#kind.network;
  }

  /**
   * Its load in sessions: what the host reported (all its clients' sessions), plus this client's
   * sessions since that report and those being created. A dead slot counts as empty.
   */
  get load(): number {
    if (!this.alive) return this.creating;
    const own = this.link?.remotes.size ?? 0;
    const reported = this.#report === undefined ? own : this.#report.load.sessions + (own - this.#report.own);
    return Math.max(own, reported) + this.creating;
  }

  /** The host's own figures (host/ping, session/create). */
  report(load: HostLoad | undefined): void {
    if (load === undefined || typeof load.sessions !== 'number') return;
    this.#report = { load, own: this.link?.remotes.size ?? 0 };
  }

  /** The host refused a session as it drains: no more sessions here until it says otherwise. */
  refused(): void {
    const load = this.#report?.load ?? { sessions: 0, cellsRunning: 0 };
    this.#report = { load: { ...load, accepting: false }, own: this.link?.remotes.size ?? 0 };
  }

  /** Starts a link, once however many callers ask at the same time. */
  start(): Promise<HostLink> {
    this.#starting ??= (async () => {
      this.#report = undefined;
      let link: HostLink | undefined;
      try {
        link = await this.#kind.connect();
        this.link = link;
        link.loadReported = (load) => this.report(load);
        link.drainingReported = () => this.refused();
        await link.initialize();
      } catch (error) {
        this.#failed(error as Error);
        throw error;
      }
      this.#failures = 0;
      void link.died.then((reason) => this.#failed(reason));
      return link;
    })().finally(() => (this.#starting = undefined));
    return this.#starting;
  }

  async close(): Promise<void> {
    this.retired = true;
    await this.#starting?.catch(() => {});
    await this.link?.close();
  }

  #failed(error: Error): void {
    this.#lastError = error;
    this.#retryAt = performance.now() + Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.#failures);
    this.#failures++;
  }
}
