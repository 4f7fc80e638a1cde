// The cells of a remote session lost with their host (SPEC §13, ADR 16): each open cell either runs
// again on the session's next host from its ledger (cell/replay), its observers waiting meanwhile,
// or ends where it is — `memoryLimit` when its host named it as the cell whose isolate it lost
// (host/catastrophe: it is never run again), else `hostLost` with its calls, saying why it could
// not run again.
import type { CellEvent, CellId, CellStreamEvent, ReplayableCell, TerminationReason } from '../../src/index.js';
import { messageOf, planInDoubt, traceMeta, type InDoubtPlan } from '../../src/internal.js';
import { Methods, type SessionId } from '../wire/protocol.js';
import type { HostLink } from './link.js';
import type { AnswerGate, LostCalls, SessionLedger } from '../../src/internal.js';

/** What replays need of their session (HostSession). */
export interface ReplayingSession {
  /** The host the session lives on now, and its id there. */
  readonly link: HostLink;
  readonly sessionId: SessionId;
  /** What an outcome passes before it goes to the cell (with a store: once it is durable). */
  readonly gate: AnswerGate;
  /** The cell ended here, lost with its host: its end is handed out once, its followers hear it. */
  ended(cellId: CellId, event: CellEvent): void;
  /** The cell runs on the session's new host: its followers hear `replayed`, its stream goes on there. */
  runsAgain(cellId: CellId, replayed: CellStreamEvent): void;
}

export class CellReplays {
  readonly #ledger: SessionLedger;
  readonly #session: ReplayingSession;
  /** Cells kept to run again: resolves true once they run on the new host, false if they are lost. */
  readonly #kept = new Map<CellId, PromiseWithResolvers<boolean>>();
  /** Cells whose host named them as the cause of its catastrophe (host/catastrophe). */
  readonly #culprits = new Set<CellId>();

  constructor(ledger: SessionLedger, session: ReplayingSession) {
    this.#ledger = ledger;
    this.#session = session;
  }

  /** The host names the cell as the one whose isolate it lost: the cell is never run again. */
  culprit(cellId: CellId): void {
    this.#culprits.add(cellId);
  }

  /** Whether the cell waits to run again on the session's next host. */
  has(cellId: CellId): boolean {
    return this.#kept.has(cellId);
  }

  /** Resolves true once the kept cell runs on the new host, false once it was lost (undefined: not kept). */
  ran(cellId: CellId): Promise<boolean> | undefined {
    return this.#kept.get(cellId)?.promise;
  }

  /**
   * The host was lost with these cells open: each is kept to run again on the next host (its
   * delegate calls go on meanwhile; their outcomes wait here), or ends now, saying why. A host
   * that broke the protocol (`broken`: why) may have sent anything of them: none runs again.
   */
  hostLost(open: readonly CellId[], broken?: string): void {
    for (const cellId of open) {
      // Lost with the host the session was moving to, before it ran there: it is still kept.
      if (this.#kept.has(cellId)) continue;
      if (this.#culprits.delete(cellId)) {
        this.#lose(cellId, 'memoryLimit', 'its isolate ran out of memory, and its host ended with it');
        continue;
      }
      const ledger = this.#ledger.cell(cellId);
      const why =
        broken !== undefined
          ? `its host broke the protocol (${broken})`
          : ledger === undefined
            ? 'this client kept nothing of it'
            : ledger.unreplayable;
      if (why !== undefined) {
        this.#lose(cellId, 'hostLost', `it could not run again on another host: ${why}`);
        continue;
      }
      ledger?.detached();
      this.#kept.set(cellId, Promise.withResolvers<boolean>());
      this.#session.link.keepCalls(this.#session.sessionId, cellId);
    }
  }

  /** The session runs on a new host: every kept cell runs again there (cell/replay). */
  async replayAll(from: HostLink): Promise<void> {
    await Promise.all([...this.#kept.keys()].map((cellId) => this.#replay(cellId, from.name)));
  }

  /**
   * A session recovered from its store (SPEC §16): each of its cells runs again on its host from
   * the ledger read there — a call in doubt made again by that run with its key (an idempotent
   * tool's) or pausing the cell when it reaches it; one that cannot run again ends `agentLost`.
   */
  async recovered(cellIds: readonly CellId[]): Promise<void> {
    const runs = cellIds.map(async (cellId) => {
      const ledger = this.#ledger.cell(cellId);
      const why = ledger === undefined ? 'its store kept nothing of it' : ledger.unreplayable;
      if (ledger === undefined || why !== undefined)
        return this.#lose(cellId, 'agentLost', `its agent process was lost, and it cannot run again: ${why}`);
      ledger.detached();
      this.#kept.set(cellId, Promise.withResolvers<boolean>());
      await this.#replay(cellId, 'its lost agent process', (cell) => planInDoubt(ledger, cell));
    });
    await Promise.all(runs);
  }

  /** No host took the session: the kept cells are lost. */
  loseAll(): void {
    for (const [cellId, kept] of this.#kept) {
      this.#lose(cellId, 'hostLost', 'no other host took its session');
      kept.resolve(false);
    }
    this.#kept.clear();
  }

  /**
   * Runs a kept cell on the session's new host from its ledger; the outcomes of its calls still
   * in flight go there as they come (cell/settle).
   */
  async #replay(cellId: CellId, from: string, plan?: (cell: ReplayableCell) => InDoubtPlan): Promise<void> {
    const kept = this.#kept.get(cellId);
    const replayable = this.#ledger.replayable(cellId);
    const planned = typeof replayable === 'string' || plan === undefined ? undefined : plan(replayable);
    const cell = planned?.cell ?? replayable;
    const { link, sessionId } = this.#session;
    let failure = typeof cell === 'string' ? cell : undefined;
    if (typeof cell !== 'string')
      try {
        // Before the host can run it: the calls it makes again are its new run's from here on (one
        // the host makes before its answer comes is served as a new call).
        this.#ledger.replaying(cellId, undefined, planned?.again);
        const meta = traceMeta();
        await link.request(Methods.cellReplay, { sessionId, cell, ...(meta === undefined ? {} : { _meta: meta }) });
      } catch (error) {
        failure = `${link.name} refused it: ${messageOf(error)}`;
        link.logger.warn(`codecell: cell ${cellId} could not run again on ${link.name}: ${messageOf(error)}`);
      }
    this.#kept.delete(cellId);
    if (failure !== undefined) {
      this.#lose(
        cellId,
        plan === undefined ? 'hostLost' : 'agentLost',
        `it could not run again on another host: ${failure}`,
      );
      kept?.resolve(false);
      return;
    }
    this.#ledger.settleTo(cellId, (callId, answer) =>
      // With a store, once the outcome is durable (it was recorded just before).
      this.#session.gate.send(() => {
        link.request(Methods.cellSettle, { sessionId, cellId, callId, answer }).catch((error: unknown) => {
          // A host lost meanwhile is the move's to handle; any other refusal is said.
          if (link.alive)
            link.logger.warn(
              `codecell: ${link.name} refused ${callId}'s outcome for cell ${cellId}: ${messageOf(error)}`,
            );
        });
      }),
    );
    this.#session.runsAgain(cellId, { type: 'replayed', from, to: link.name });
    kept?.resolve(true);
  }

  /** The cell ends lost with its host: `terminated` with its calls as the ledger has them, and why. */
  #lose(
    cellId: CellId,
    reason: Extract<TerminationReason, 'hostLost' | 'memoryLimit' | 'agentLost'>,
    detail: string,
  ): void {
    const end = (calls: LostCalls): CellEvent => ({ kind: 'terminated', cellId, items: [], reason, ...calls, detail });
    this.#session.ended(cellId, end(this.#ledger.lost(cellId, reason === 'agentLost', end)));
  }
}
