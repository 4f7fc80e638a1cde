// The cells of a remote session lost with their host that run again on its next host (SPEC §13,
// ADR 16): which are kept for that when the host is lost, the cell/replay that runs each there
// once the session moved, and the wait of their observers meanwhile.
import type { CellId, CellStreamEvent, ObserveMode } from '../../src/index.js';
import { messageOf, traceMeta } from '../../src/internal.js';
import { Methods, type SessionId } from '../wire/protocol.js';
import { CellJournals } from './cell-journals.js';
import type { HostLink } from './link.js';

/** What replays need of their session (HostSession). */
export interface ReplayingSession {
  /** The host the session lives on now, and its id there. */
  readonly link: HostLink;
  readonly sessionId: SessionId;
  /** The cell ends lost with its host after all (`hostLost`, its calls). */
  lose(cellId: CellId): void;
  /** The cell runs on the session's new host: its followers hear `replayed`, its stream goes on there. */
  runsAgain(cellId: CellId, replayed: CellStreamEvent, initialMode: ObserveMode | undefined): void;
}

export class CellReplays {
  /** Each running cell's journal, as its host mirrors it. */
  readonly journals = new CellJournals();
  readonly #session: ReplayingSession;
  /** Cells kept to run again: resolves true once they run on the new host, false if they are lost. */
  readonly #kept = new Map<CellId, PromiseWithResolvers<boolean>>();

  constructor(session: ReplayingSession) {
    this.#session = session;
  }

  /** Whether the cell waits to run again on the session's next host. */
  has(cellId: CellId): boolean {
    return this.#kept.has(cellId);
  }

  /**
   * The cell's host was lost: true when the cell runs again on the next one (its delegate calls
   * go on meanwhile), false when it cannot (no journal, past its bound, or replayed once already).
   */
  keep(cellId: CellId): boolean {
    // Lost with the host the session was moving to, before it ran there: it is still kept.
    if (this.#kept.has(cellId)) return true;
    if (this.journals.replayable(cellId) === undefined) return false;
    this.#kept.set(cellId, Promise.withResolvers<boolean>());
    this.#session.link.keepCalls(this.#session.sessionId, cellId);
    return true;
  }

  /** Resolves true once the kept cell runs on the new host, false once it was lost (undefined: not kept). */
  ran(cellId: CellId): Promise<boolean> | undefined {
    return this.#kept.get(cellId)?.promise;
  }

  /** The session runs on a new host: every kept cell runs again there (cell/replay). */
  async replayAll(from: HostLink): Promise<void> {
    await Promise.all([...this.#kept.keys()].map((cellId) => this.#replay(cellId, from)));
  }

  /** No host took the session: the kept cells are lost. */
  loseAll(): void {
    for (const [cellId, kept] of this.#kept) {
      this.#session.lose(cellId);
      kept.resolve(false);
    }
    this.#kept.clear();
  }

  /**
   * Runs a kept cell on the session's new host from its journal; the outcomes of its calls still
   * in flight go there as they come (cell/settle).
   */
  async #replay(cellId: CellId, from: HostLink): Promise<void> {
    const kept = this.#kept.get(cellId);
    const cell = this.journals.replayable(cellId);
    const { link, sessionId } = this.#session;
    let ran = false;
    if (cell !== undefined)
      try {
        const meta = traceMeta();
        await link.request(Methods.cellReplay, { sessionId, cell, ...(meta === undefined ? {} : { _meta: meta }) });
        ran = true;
      } catch (error) {
        link.logger.warn(`codecell: cell ${cellId} could not run again on ${link.name}: ${messageOf(error)}`);
      }
    this.#kept.delete(cellId);
    if (!ran) {
      this.#session.lose(cellId);
      kept?.resolve(false);
      return;
    }
    this.journals.replaying(cellId, (callId, answer) => {
      link.request(Methods.cellSettle, { sessionId, cellId, callId, answer }).catch(() => {});
    });
    const replayed: CellStreamEvent = { type: 'replayed', from: from.name, to: link.name };
    this.#session.runsAgain(cellId, replayed, this.journals.initialMode(cellId));
    kept?.resolve(true);
  }
}
