// How a remote session moves to another host (SPEC §13): when its host is lost, at once; when its
// host drains, once nothing of it runs there. The session is rebuilt from its ledger with
// session/create `restore`; requests made meanwhile wait for the move.
import { CodeCellError, type SessionStreamEvent } from '../../src/index.js';
import { messageOf } from '../../src/internal.js';
import { Methods, type SessionId } from '../wire/protocol.js';
import type { HostLink, LinkedSession } from './link.js';
import type { SessionLedger } from '../../src/internal.js';
import { createOnHost, type CreatedSession, type CreateParams } from './session-create.js';

/**
 * How a session finds a new host (HostClient): it tries `create` on hosts other than `from`, least
 * loaded first, and rejects when none takes the session.
 */
export type Rehome = (create: (link: HostLink) => Promise<unknown>, from: HostLink) => Promise<void>;

type MoveReason = Extract<SessionStreamEvent, { type: 'rehomed' }>['reason'];

/** What a move needs of its session (HostSession). */
export interface MovingSession {
  /** The host the session lives on now, and its id there. */
  readonly link: HostLink;
  readonly sessionId: SessionId;
  /** Whether the session is ending (shut down, suspended, or its host gone for good): it stays. */
  readonly staying: boolean;
  /** Whether a cell runs, is being admitted or is observed on its host. */
  busy(): boolean;
  /** The host was lost: every open cell ends `hostLost`. */
  loseOpenCells(): void;
  /** Before a hand-off: terminal events the old host holds, fetched and held on the client. */
  takeUnread(from: HostLink): Promise<void>;
  /** The session now lives on `link` (session/create with restore answered `created`). */
  attach(link: HostLink, created: CreatedSession): LinkedSession;
  /** The session runs on a new host: the cells lost with the old one (`from`) run again there. */
  replayKept(from: HostLink): Promise<void>;
  /** The move ended on a new host: the session's followers hear it. */
  rehomed(from: HostLink, reason: MoveReason): void;
  /** No host took the session: it ends with `error`. */
  fail(error: CodeCellError): void;
}

export class SessionMove {
  readonly #session: MovingSession;
  readonly #rehome: Rehome;
  readonly #ledger: SessionLedger;
  /** What session/create is sent again on another host (no setup: its effects are in the stored values). */
  readonly #params: CreateParams;
  /** A move to another host under way: requests wait for it. */
  #moving: Promise<void> | undefined;
  /** A drain asked the session to move once its cells ended. */
  #handOffWanted = false;
  /** Waiting for the next cell to close (or the host to go): executes held by a hand-off. */
  #closings: (() => void)[] = [];

  constructor(session: MovingSession, rehome: Rehome, ledger: SessionLedger, params: CreateParams) {
    this.#session = session;
    this.#rehome = rehome;
    this.#ledger = ledger;
    this.#params = params;
  }

  /** Whether a move is under way (moved() waits for it). */
  get moving(): boolean {
    return this.#moving !== undefined;
  }

  /** Whether requests must wait (afterMove) before they go to the host. */
  get pending(): boolean {
    return this.#handOffWanted || this.#moving !== undefined;
  }

  /**
   * The host was lost: its cells are lost with it, and the session moves. False when it cannot
   * (the session is ending): then it ends with the host.
   */
  hostLost(error: CodeCellError): boolean {
    this.wake();
    if (this.#session.staying) return false;
    this.#session.loseOpenCells();
    // A hand-off under way goes on (from a host now gone: if it finds none, the session ends).
    if (this.#moving === undefined) this.#start(this.#session.link.draining ? 'drain' : 'hostLost', error);
    return true;
  }

  /**
   * The host drains: the session moves once nothing of it runs there (no cell open on the host,
   * no execute in flight); until then each closed cell or ended observation asks again.
   */
  handOff(): void {
    this.#handOffWanted = true;
    const session = this.#session;
    if (this.#moving !== undefined || session.staying || session.busy()) return;
    this.#handOffWanted = false;
    const from = session.link;
    const sessionId = session.sessionId;
    this.#start('drain', undefined, () => {
      // Moved: the old host's session ends (its unread terminal events were taken first).
      from.forget(sessionId);
      from.request(Methods.sessionShutdown, { sessionId }).catch(() => {});
    });
  }

  /** A cell closed or an observation ended: a hand-off waiting for it goes on. */
  settled(): void {
    if (!this.#handOffWanted) return;
    this.handOff();
    this.wake();
  }

  /**
   * Before a cell: a draining host's session moves first (run there, the cell would keep it busy
   * there), once its running cells closed; a move under way is waited for.
   */
  async afterMove(): Promise<void> {
    const session = this.#session;
    while (this.#handOffWanted && this.#moving === undefined && session.link.alive && session.busy())
      await new Promise<void>((resolve) => this.#closings.push(resolve));
    if (this.#handOffWanted) this.handOff();
    await this.moved();
  }

  /** Waits for a move under way (its end, whichever way). */
  async moved(): Promise<void> {
    while (this.#moving !== undefined) await this.#moving;
  }

  /** A cell closed, or the host went: executes held for a hand-off look again. */
  wake(): void {
    const waiting = this.#closings;
    this.#closings = [];
    for (const resolve of waiting) resolve();
  }

  /** Rebuilds the session on another host; requests wait for it. Only when none takes it does it end. */
  #start(reason: MoveReason, lost: CodeCellError | undefined, moved?: () => void): void {
    const session = this.#session;
    const from = session.link;
    this.#moving = (async () => {
      // Terminal events the old host still holds for this client are fetched before it goes.
      if (lost === undefined) await session.takeUnread(from);
      const params: CreateParams = { ...this.#params, restore: this.#ledger.restore(), mirror: true, moved: true };
      await this.#rehome(
        (link) => createOnHost(link, params, undefined, (created) => session.attach(link, created)),
        from,
      );
      await session.replayKept(from);
      moved?.();
      session.rehomed(from, reason);
    })()
      .catch((failure: unknown) => {
        if (from.alive) return; // a hand-off that found no host: the session stays where it is
        const why = lost?.message ?? `the host ${from.name} drained`;
        session.fail(
          new CodeCellError('ERR_HOST_EXITED', `${why}; no other host took the session (${messageOf(failure)})`),
        );
      })
      .finally(() => {
        this.#moving = undefined;
        // The new host was lost as the move ended: the session moves again.
        if (session.staying || session.link.alive) return;
        const error = session.link.death ?? new CodeCellError('ERR_HOST_EXITED', 'codecell-host is gone');
        if (!this.hostLost(error)) session.fail(error);
      });
  }
}
