// What a remote session asks of its cells and waits for — observations (a cell's initial one
// included), terminate and resumeCell — and how each survives a move (SPEC §13, issue 64): one
// observer slot per cell (observations.ts), each cell's initial observation (cell/initialEvent,
// before or after the answer that named the cell), and, when the host is lost while one waits, the
// same question asked again where the cell runs on — for what is left of its time — or the cell's
// end when it does not run on. Nothing is left waiting, nothing stays busy.
import type { CellEvent, CellId, CodeCellError, ObserveMode } from '../../src/index.js';
import { messageOf, quiet, type AnswerGate } from '../../src/internal.js';
import { untilAborted } from '../wire/signals.js';
import { Methods, type SessionId, type WireCellEvent } from '../wire/protocol.js';
import { InitialEvents } from './initial-events.js';
import type { HostLink } from './link.js';
import { Observations } from './observations.js';

/** What the observers need of their session (HostSession). */
export interface ObservedSession {
  /** The host the session lives on now, and its id there. */
  readonly link: HostLink;
  readonly sessionId: SessionId;
  /** An answer about the cell reached this client: the event handed out. */
  delivered(cellId: CellId, answer: WireCellEvent): CellEvent;
  /** What every answer passes before it leaves (SPEC §16): once what it tells is durable. */
  readonly gate: AnswerGate;
  /** Why the session ended (its store failed, or with its host), once it did. */
  readonly hostDead: CodeCellError | undefined;
  /** Resolves true once the cell runs on the session's new host after a loss (undefined: it will not). */
  ranAgain(cellId: CellId): Promise<boolean> | undefined;
  /** The end of the cell when it was lost with its host (held here, handed out once). */
  takeHeld(cellId: CellId): CellEvent | undefined;
  /** The host answered that it does not know the cell: neither does the client. */
  forgetIfMissing(cellId: CellId, error: unknown): void;
  /** An observation ended: a hand-off waiting for the session to be idle may go on. */
  observed(): void;
}

/** A question about a cell, sent to the host the session lives on now. */
type Ask = (link: HostLink, sessionId: SessionId) => Promise<WireCellEvent>;

export class CellObservers {
  readonly #session: ObservedSession;
  readonly #slots = new Observations();
  readonly #initial = new InitialEvents();
  /** Cells whose initial observation is being asked again where they run on. */
  readonly #reasking = new Set<CellId>();

  constructor(session: ObservedSession) {
    this.#session = session;
  }

  /** How many observations wait for their answer (a hand-off waits for none). */
  get size(): number {
    return this.#slots.size;
  }

  has(cellId: CellId): boolean {
    return this.#slots.has(cellId);
  }

  /**
   * A cell the host admitted: its initial observation (`mode`, counted from `sentAt`) holds the
   * observer slot until it arrives. The event is never an unhandled rejection.
   */
  admitted(cellId: CellId, mode: ObserveMode, sentAt: number): Promise<CellEvent> {
    const event = this.#initial.expect(cellId);
    this.#slots.take(cellId, mode, sentAt);
    return quiet(
      event.then(
        (value) => {
          this.#released(cellId);
          // A cell lost with its host: its end is handed out here, not again.
          this.#session.takeHeld(cellId);
          return this.#durable(this.#session.delivered(cellId, value));
        },
        (error: unknown) => {
          this.#released(cellId);
          throw error;
        },
      ),
    );
  }

  /** An observation of the cell (beginObserve's event): ERR_BUSY_OBSERVER at once when one waits. */
  observe(cellId: CellId, mode: ObserveMode, signal: AbortSignal | undefined): Promise<CellEvent> {
    this.#slots.take(cellId, mode);
    const answered = this.#ask(cellId, (link, sessionId) =>
      link.request(Methods.cellObserve, { sessionId, cellId, mode: this.#slots.left(cellId) ?? mode }, signal),
    );
    // As in-process: an aborted observation frees the slot at once, with the caller's reason.
    return untilAborted(answered, signal).finally(() => this.#released(cellId));
  }

  /** resumeCell: the paused cell's next observation, in its slot. */
  async resume(cellId: CellId, mode: ObserveMode, ask: Ask): Promise<CellEvent> {
    this.#slots.take(cellId, mode);
    try {
      return await this.#ask(cellId, ask);
    } finally {
      this.#released(cellId);
    }
  }

  /** terminate: the cell's end (asked again where it runs on if its host is lost meanwhile). */
  terminate(cellId: CellId, ask: Ask): Promise<CellEvent> {
    return this.#ask(cellId, ask);
  }

  /** cell/initialEvent arrived. */
  arrived(cellId: CellId, event: CellEvent): void {
    this.#initial.arrived(cellId, event);
  }

  /**
   * The cell runs on the session's new host: an initial observation that never came is asked of
   * it, for what is left of its time (other questions ask again themselves).
   */
  runsAgain(cellId: CellId): void {
    if (!this.#initial.awaited(cellId) || this.#reasking.has(cellId)) return;
    this.#reasking.add(cellId);
    const pending = { kind: 'pendingFrontier' } as const;
    this.#across(cellId, (link, sessionId) =>
      link.request(Methods.cellObserve, { sessionId, cellId, mode: this.#slots.left(cellId) ?? pending }),
    )
      .then(
        (got) =>
          'held' in got ? this.#initial.settleIfAwaited(cellId, got.held) : this.#initial.arrived(cellId, got.answer),
        (error: unknown) => {
          this.#session.link.logger.warn(`codecell: observing the replayed cell ${cellId} failed: ${messageOf(error)}`);
          const detail = `observing it where it ran again failed: ${messageOf(error)}`;
          const lost: CellEvent = { kind: 'terminated', cellId, items: [], reason: 'hostLost', toolCalls: [], detail };
          this.#initial.settleIfAwaited(cellId, lost);
        },
      )
      .finally(() => this.#reasking.delete(cellId));
  }

  /** The cell ended here, lost with its host: an initial observation still awaited gets its end. */
  ended(cellId: CellId, event: CellEvent): void {
    this.#initial.settleIfAwaited(cellId, event);
  }

  /** The cell's initial observation, if still awaited, fails (its host is gone, and the session with it). */
  failIfAwaited(cellId: CellId, error: unknown): void {
    this.#initial.failIfAwaited(cellId, error);
  }

  /** Every initial observation still awaited fails (the session ended). */
  failAll(error: unknown): void {
    this.#initial.failAll(error);
  }

  /** The session lives on a new host: initial events of cells never learned of (a lost host's) go. */
  moved(): void {
    this.#initial.forgetEarly();
  }

  /**
   * Asks across moves (see #across), after the answers this client holds for their records (a
   * tool result the delegate gave before this question goes to the host before it does, once
   * the delegate's settled promises had their turn); the answer reached this client.
   */
  async #ask(cellId: CellId, ask: Ask): Promise<CellEvent> {
    if (this.#session.gate.closed) {
      await new Promise((resolve) => setImmediate(resolve));
      await this.#session.gate.settled();
    }
    const got = await this.#across(cellId, ask);
    return this.#durable('held' in got ? got.held : this.#session.delivered(cellId, got.answer));
  }

  /**
   * With a store, an answer is handed out once the log holds what it tells (SPEC §16): a cell's
   * end seen by the agent is never run again, or ended otherwise, by a recovery after a crash.
   * Not written: the session ends (SessionCore#storeLost), and the answer says why.
   */
  #durable(event: CellEvent): CellEvent | Promise<CellEvent> {
    return this.#session.gate.pass(event);
  }

  /**
   * Asks the host the session lives on; if that host is lost meanwhile, asks again where the cell
   * runs on (as often as it moves), or gives the cell's end when it does not run on.
   */
  async #across(cellId: CellId, ask: Ask): Promise<{ answer: WireCellEvent } | { held: CellEvent }> {
    const { link, sessionId } = this.#session;
    try {
      return { answer: await ask(link, sessionId) };
    } catch (error) {
      const ran = this.#session.ranAgain(cellId);
      if (ran !== undefined && (await ran)) return this.#across(cellId, ask);
      // The cell was lost with its host while this waited: its end is held here.
      const lost = this.#session.takeHeld(cellId);
      if (lost !== undefined) return { held: lost };
      this.#session.forgetIfMissing(cellId, error);
      throw error;
    }
  }

  #released(cellId: CellId): void {
    this.#slots.release(cellId);
    this.#session.observed();
  }
}
