// RemoteSession: a session of codecell-host behind the same CodeCellSession interface as the
// in-process SessionRuntime (protocol v2: execute answers at admission, events by subscription).
// HostSession is the public session; its state and its life on its hosts are its core's
// (session-core.ts), whose parts each live in a file of their own.
import {
  CodeCellError,
  type CellAnswer,
  type CellEvent,
  type CellId,
  type CellStreamEvent,
  type CodeCellSession,
  type EventsOptions,
  type ExecuteRequest,
  type HandOffStream,
  type ObserveMode,
  type OpenCell,
  type PendingEvent,
  type SessionRuntimeDelegate,
  type SessionSnapshot,
  type SessionStreamEvent,
  type StartedCell,
  type SuspendOptions,
} from '../../src/index.js';
import {
  checkCellAnswer,
  checkSuspendOptions,
  DEFAULT_OBSERVE,
  messageOf,
  missingCell,
  notInterrupted,
  PendingAnswers,
  quiet,
  SessionBase,
  traceMeta,
  type TraceMeta,
} from '../../src/internal.js';
import { untilAborted } from '../wire/signals.js';
import { Methods, type HostTiming, type SessionId } from '../wire/protocol.js';
import { settledWithin } from './incoming-calls.js';
import { SessionCore } from './session-core.js';
import type { CreatedSession, CreateParams } from './session-create.js';
import type { Rehome } from './session-move.js';
import type { HostLink, Inbound, LinkedSession } from './link.js';
import type { KeptLog } from './kept-sessions.js';

export type { Rehome } from './session-move.js';

export const DEFAULT_SETUP_TIMEOUT_MS = 60_000;

/** The error of a setup cell that did not reach a frontier in time (in-process and remote alike). */
export const setupTimedOut = (timeoutMs: number): CodeCellError =>
  new CodeCellError('ERR_SETUP_TIMEOUT', `the setup cell did not reach a frontier within ${timeoutMs} ms`);

/** A session of codecell-host (HostClient.createSession): the CodeCellSession interface, remotely. */
export interface RemoteSession extends CodeCellSession {
  /** The session's id on its host. */
  readonly sessionId: SessionId;
  /** The setup cell's id, when the session was created with `setupSource`. */
  readonly setupCellId: CellId | undefined;
  /** The setup cell's first event (frontier or terminal), once createSession resolved. */
  readonly setupEvent: CellEvent | undefined;
  /** The id of the host process this session lives on (undefined over plain streams or a network). */
  readonly hostPid: number | undefined;
  /** The host this session lives on: its `ws(s)://` URL, or `process <pid>` for a spawned one. */
  readonly host: string;
  /**
   * Waits for the running cells to end (`signal` terminates them), then ends the session and
   * returns its snapshot (SessionRuntime's suspend): `HostClient#resumeSession` or
   * `SessionRuntime.resume` make a live session of it, in any process, on any host.
   */
  suspend(options?: SuspendOptions): Promise<SessionSnapshot>;
  /**
   * The host's own timing of the cell (SPEC §14) as of its newest answer about it here: how long
   * it waited to be admitted there, and how long it had run (its whole run once it ended).
   * Undefined for a cell this client has no answer about (it keeps the newest 1 024 cells').
   */
  hostTiming(cellId: CellId): HostTiming | undefined;
}

/**
 * The RemoteSession of a HostLink: it receives what the link routes to it. With a `rehome`, it
 * keeps a ledger to rebuild itself and its cells on another host, and moves there when its host is
 * lost or drains (SPEC §13): its link and id on the host change, the session goes on. Its state
 * and its life on its hosts are its core's (session-core.ts).
 */
export class HostSession extends SessionBase implements RemoteSession, LinkedSession {
  readonly #core: SessionCore;
  /** The setup cell's id, when the session was created with `setupSource`. */
  readonly setupCellId: CellId | undefined;
  /** The setup cell's first event (frontier or terminal), once createSession resolved. */
  setupEvent: CellEvent | undefined;
  /** The setup cell's initial event (see setup). */
  readonly #setupInitial: Promise<CellEvent> | undefined;
  /** Answers to paused calls being made into outcomes (an approved call is made first). */
  readonly #answers = new PendingAnswers();

  constructor(
    link: HostLink,
    created: CreatedSession,
    delegate: SessionRuntimeDelegate,
    params: CreateParams,
    rehome?: Rehome,
    kept?: KeptLog,
  ) {
    super();
    this.#core = new SessionCore(link, created, delegate, params, rehome, () => this.shuttingDown, kept);
    this.setupCellId = created.setupCellId;
    this.#setupInitial =
      created.setupCellId === undefined
        ? undefined
        : this.#core.admitted(created.setupCellId, { kind: 'pendingFrontier' }, performance.now());
  }

  /** The session's key (SPEC §16): the same on every host it moves to, and in its snapshots. */
  get key(): string {
    return this.#core.key;
  }

  /** The session's id on its host (it changes when the session moves to another host). */
  get sessionId(): SessionId {
    return this.#core.sessionId;
  }

  override get isAlive(): boolean {
    return super.isAlive && this.#core.hostDead === undefined;
  }

  /** The id of the host process this session lives on (undefined over plain streams or a network). */
  get hostPid(): number | undefined {
    return this.#core.link.child?.pid;
  }

  /** The host this session lives on: its `ws(s)://` URL, or `process <pid>` for a spawned one. */
  get host(): string {
    return this.#core.link.name;
  }

  async execute(request: ExecuteRequest, initialObserve?: ObserveMode): Promise<StartedCell> {
    const core = this.#core;
    if (core.move?.pending === true) await core.move.afterMove();
    this.#assertUsable();
    const link = core.link;
    let result;
    // The initial observation's time counts from here (the host's, from admission).
    const sentAt = performance.now();
    // Whether the host is heard of a cell this client does not know, from here on (see below).
    const heard = core.heardOfCells;
    core.executing++;
    const executed = core.ledger?.executing(request.limits);
    try {
      // The caller's span is the cell's parent on the host (SPEC §14).
      const params = { sessionId: core.sessionId, request, observe: initialObserve, ...tracedParams() };
      result = await link.request(Methods.cellExecute, params);
    } catch (error) {
      executed?.();
      if (core.move?.moving === true) await core.move.moved();
      if (link === core.link || !this.isAlive) throw error;
      // The host was lost before it answered, and the session lives on another now. Nothing of
      // a cell this client does not know reached it since: the lost host never ran this one
      // with an effect (every effect of a cell crosses to this client) — it runs here instead.
      if (heard === core.heardOfCells) return this.execute(request, initialObserve);
      throw lostExecute(link, error);
    } finally {
      core.executing--;
    }
    const { cellId, _meta } = result as Partial<typeof result>;
    if (typeof cellId !== 'string' || cellId === '') {
      executed?.();
      throw new CodeCellError(
        'ERR_PROTOCOL',
        `codecell-host answered cell/execute without a cellId: ${JSON.stringify(result)}`,
      );
    }
    // The host took the request: its limits were valid (a cell's own bound on its tool results).
    const own = request.limits?.maxToolResultBytes;
    if (typeof own === 'number') core.bounds.cell(cellId, own);
    core.ledger?.admitted(cellId, request.limits);
    executed?.();
    const started = this.startedCell(cellId, core.admitted(cellId, initialObserve ?? DEFAULT_OBSERVE, sentAt));
    core.cells.timed(cellId, _meta);
    // Its host was lost just as its answer came: the cell is lost with it, as its neighbours were.
    if (!link.alive) core.lostOnArrival(cellId, link);
    // With a store, the cell's id is given out once its admission is kept (as in process).
    if (core.gate.closed) await core.gate.after();
    return started;
  }

  cells(): OpenCell[] {
    return this.#core.cells.listed;
  }

  hostTiming(cellId: CellId): HostTiming | undefined {
    return this.#core.cells.timing(cellId);
  }

  async beginObserve(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<PendingEvent> {
    const held = this.#core.cells.takeHeld(cellId);
    if (held !== undefined) return { event: Promise.resolve(held) };
    this.#assertCellUsable(cellId);
    signal?.throwIfAborted();
    return { event: quiet(this.#core.observers.observe(cellId, mode, signal)) };
  }

  async terminate(cellId: CellId): Promise<CellEvent> {
    const held = this.#core.cells.takeHeld(cellId);
    if (held !== undefined) return held;
    this.#assertCellUsable(cellId);
    const event = await this.#core.observers.terminate(cellId, (link, sessionId) =>
      link.request(Methods.cellTerminate, { sessionId, cellId }),
    );
    // The host cancelled the cell's calls (cell/cancel came before this answer): as in-process,
    // the caller's own delegates are waited for, within the deadline.
    await this.#core.cells.windingDown(cellId);
    return event;
  }

  async resumeCell(cellId: CellId, answer: CellAnswer, observe: ObserveMode = DEFAULT_OBSERVE): Promise<CellEvent> {
    this.#assertCellUsable(cellId);
    const checked = checkCellAnswer(answer);
    // As in-process: a cell that is not paused is refused before its observer is looked at. A
    // person's decision becomes the call's outcome here, where the delegate is (a call made now is
    // written ahead, with a store, as any call).
    const { cells } = this.#core;
    const paused = { call: cells.pausedCall(cellId, this.key), inDoubt: cells.pausedInDoubt(cellId) };
    const outcome = await this.#answers.decide(cellId, checked, paused, this.#core.aheadOf(this.#core.delegate));
    const call = paused.call as NonNullable<typeof paused.call>;
    this.#assertCellUsable(cellId);
    if (!this.#core.cells.isPaused(cellId)) throw notInterrupted(cellId);
    // Recorded first: the cell hears it once it is durable, a decline as a result.
    await this.#core.decided(cellId, call.callId, outcome);
    return this.#core.observers.resume(cellId, observe, (link, sessionId) =>
      link.request(Methods.cellResume, { sessionId, cellId, answer: outcome, observe, ...tracedParams() }),
    );
  }

  async suspend(options: SuspendOptions = {}): Promise<SessionSnapshot> {
    const signal = checkSuspendOptions(options);
    const core = this.#core;
    if (core.move?.moving === true) await core.move.moved();
    this.#assertUsable();
    core.suspending = true;
    // The host waits for the cells; a signal ends them with a terminate each.
    const stop = (): void => {
      for (const cellId of core.cells.running) this.terminate(cellId).catch(() => {});
    };
    if (signal?.aborted === true) stop();
    else signal?.addEventListener('abort', stop, { once: true });
    let snapshot: SessionSnapshot;
    try {
      ({ snapshot } = await core.link.request(Methods.sessionSuspend, { sessionId: core.sessionId }));
    } finally {
      signal?.removeEventListener('abort', stop);
    }
    await this.shutdown();
    return snapshot;
  }

  protected async shutdownOnce(): Promise<void> {
    const core = this.#core;
    let aborted: Promise<void> = Promise.resolve();
    if (core.move?.moving === true) await core.move.moved();
    const { link, sessionId } = core;
    this.#answers.abortAll(new CodeCellError('ERR_SHUTTING_DOWN', 'the session is shutting down'));
    try {
      if (core.hostDead === undefined) {
        // It leaves before the delegates' aborts below (a turn's work), so the host starts at once.
        const answered = link.request(Methods.sessionShutdown, { sessionId }, undefined, true);
        aborted = settledWithin(link.abortSessionCalls(sessionId), core.deadlineMs);
        await answered;
      }
    } catch (error) {
      if (!(error instanceof CodeCellError && error.code === 'ERR_HOST_EXITED')) throw error;
    } finally {
      core.endAll(new CodeCellError('ERR_SHUTTING_DOWN', 'the session was shut down'));
      link.forget(sessionId);
      // Ended here, not moved away: nothing of it is left in its store to recover.
      await core.kept?.log.end(core.movedAway === undefined);
    }
    // Like the in-process session: the delegate calls it aborted settle (or their deadline passes),
    // and cellClosed calls already running are waited for, within the deadline of the callbacks.
    await Promise.all([aborted, core.cells.windingDown()]);
    await core.cellsClosed();
  }

  /** The cell's stream events (SPEC §7): the host holds them until the first subscription. */
  protected cellEvents(cellId: CellId, options: EventsOptions): HandOffStream<CellStreamEvent> {
    return this.#core.streams.cell(cellId, options);
  }

  /** Every cell's events: the host sends them as one stream (session/event), numbered here. */
  protected sessionEvents(after: number | undefined): HandOffStream<SessionStreamEvent> {
    if (this.#core.hostDead !== undefined) throw this.#core.hostDead;
    this.assertNotShuttingDown();
    return this.#core.streams.session(after);
  }

  // --- used by openRemoteSession and HostLink ---

  /** Waits for the setup cell's first event, bounded by `signal` and `timeoutMs`. */
  async setup(signal: AbortSignal | undefined, timeoutMs = DEFAULT_SETUP_TIMEOUT_MS): Promise<void> {
    const first = this.#setupInitial ?? Promise.resolve(undefined);
    const timer = AbortSignal.timeout(timeoutMs);
    try {
      this.setupEvent = await untilAborted(first, signal === undefined ? timer : AbortSignal.any([timer, signal]));
      // With a store, created once the session is kept: a recovery removes one whose log holds nothing.
      await this.#core.gate.after();
    } catch (error) {
      await this.shutdown().catch(() => {});
      if (timer.aborted && signal?.aborted !== true) throw setupTimedOut(timeoutMs);
      throw error;
    }
  }

  receive(entry: Inbound): void {
    this.#core.receive(entry);
  }

  /** A session recovered from its store lives here now: its open cells run again (SessionCore#recovered). */
  async recovered(): Promise<void> {
    await this.#core.recovered();
  }

  callsCancelled(cellId: CellId, running: Promise<unknown>[]): void {
    this.#core.callsCancelled(cellId, running);
  }

  hostDied(error: CodeCellError): void {
    this.#core.hostDied(error);
  }

  get runningOnHost(): boolean {
    return this.#core.runningOnHost;
  }

  handOff(): void {
    this.#core.handOff();
  }

  #assertUsable(): void {
    const { hostDead, suspending, movedAway } = this.#core;
    if (movedAway !== undefined) throw movedAway;
    if (hostDead !== undefined)
      throw new CodeCellError('ERR_HOST_EXITED', `codecell-host of this session has exited: ${hostDead.message}`);
    this.assertNotShuttingDown();
    if (suspending) throw new CodeCellError('ERR_SHUTTING_DOWN', 'the session is being suspended');
  }

  #assertCellUsable(cellId: unknown): asserts cellId is CellId {
    const id = this.checkCellId(cellId);
    if (this.#core.hostDead !== undefined)
      throw new CodeCellError('ERR_MISSING_CELL', `unknown cell ${id} (its host has exited)`);
    if (!this.#core.cells.isOpen(id)) throw missingCell(id, this.#core.cells.isKnown(id));
  }
}

/** `_meta` with the caller's trace context, when a span is active. */
function tracedParams(): { _meta?: TraceMeta } {
  const meta = traceMeta();
  return meta === undefined ? {} : { _meta: meta };
}

/** An execute whose host was lost before it answered, having started the cell: the session goes on elsewhere. */
function lostExecute(link: HostLink, error: unknown): CodeCellError {
  return new CodeCellError(
    'ERR_HOST_EXITED',
    `the session's host (${link.name}) was lost before it answered cell/execute, and the cell had started ` +
      `there (its effects may have happened); the session goes on on another host: decide whether to run ` +
      `the cell again (${messageOf(error)})`,
  );
}
