// src/session/ — the session: SessionRuntime (this file), what both session kinds share
// (session-base.ts), a session's cells by where they are in their life (session-cells.ts) and a
// cell's source made ready to compile (source.ts). It imports every other folder of src/; only
// src/index.ts and src/internal.ts import it.
//
// The in-process session: admits cells, routes observe/terminate to them, and shuts them all
// down under one shared callback deadline.
import { Deadline } from '../cell/deadline.js';
import { Cell } from '../cell/cell.js';
import type { CodeCellSession } from '../session-interface.js';
import type { CellTool } from '../cell/tool-calls.js';
import { CellStreams } from '../streams/cell-streams.js';
import { CodeCellError, missingCell, notInterrupted, quiet } from '../errors.js';
import { DEFAULT_OBSERVE } from '../defaults.js';
import { activeContext, startSpan, traced } from '../tracing.js';
import { SessionGate } from './session-gate.js';
import { CellMaker } from './cell-maker.js';
import { snapshotPausedCell } from './paused-cells.js';
import { HostedCells } from './hosted-cells.js';
import { assertIsolatesUsable } from '../isolate/load.js';
import { stageClock, stageDone } from '../isolate/stages.js';
import type { CellLimits } from '../limits.js';
import { ToolInputChecks } from '../tools/tool-input.js';
import { PendingAnswers } from './approvals.js';
import { SessionBase } from './session-base.js';
import { StoredValues } from './stored-values.js';
import { MAX_UNREAD_TERMINALS, SessionCells } from './session-cells.js';
import { checkRuntimeOptions, type SessionRuntimeOptions } from './options.js';
import { checkSnapshot, checkStoredBytes, SNAPSHOT_VERSION, type SessionSnapshot } from './snapshot.js';
import { durabilityOf, type SessionRecords } from './session-records.js';
import { recoverSessions } from './recovery.js';
import type { SessionRuntimeConstructor, SuspendOptions } from './runtime-api.js';
import type { Adopted } from './session-records.js';

export type { SessionRuntimeOptions } from './options.js';
export type { SessionRuntimeConstructor, SuspendOptions } from './runtime-api.js';
export type { RecoverOptions, RecoveryInfo } from './recovery.js';

import type {
  CellAnswer,
  CellEvent,
  CellId,
  CellStreamEvent,
  EventsOptions,
  ExecuteRequest,
  HandOffStream,
  Logger,
  ObserveMode,
  OpenCell,
  PendingEvent,
  SessionCellEvent,
  SessionRuntimeDelegate,
  SessionStreamEvent,
  StartedCell,
} from '../types.js';
import {
  checkCellAnswer,
  checkDelegate,
  checkExecuteRequest,
  checkObserveMode,
  checkOptionsObject,
  checkSuspendOptions,
} from '../validate.js';

export { DEFAULT_CALLBACK_ABORT_DEADLINE_MS } from './options.js';

/**
 * A session that runs its cells in this process, each in an isolate of its own: the
 * CodeCellSession interface, created with `new SessionRuntime(delegate, options)`. Its delegate
 * serves the cells' tool calls and notifications; shutdown() ends every cell within one deadline.
 */
export interface SessionRuntime extends CodeCellSession {
  /**
   * Runs a cell a CellInterrupt paused again, from its journal, and gives the call it paused at
   * `answer` as its outcome (a result, or an error the call rejects with); resolves with the
   * cell's next observation, as observe(cellId, observe) would. ERR_INVALID_REQUEST when the
   * cell is not interrupted; ERR_MISSING_CELL for a cell the session does not have. A cell
   * paused at a call in doubt after a recovery (`reason: 'inDoubt'`) also takes `{ retry: true }`:
   * the call is made again, with its idempotency key (SPEC §16).
   */
  resumeCell(cellId: CellId, answer: CellAnswer, observe?: ObserveMode): Promise<CellEvent>;
  /**
   * Waits for the running cells to end (`signal` terminates them), then ends the session and
   * returns its snapshot: plain JSON that `SessionRuntime.resume` or `HostClient#resumeSession`
   * make a live session of, in any process. New cells are refused meanwhile (ERR_SHUTTING_DOWN).
   */
  suspend(options?: SuspendOptions): Promise<SessionSnapshot>;
}

/** The session's hosted cells (hosted-cells.ts), reached only through hostedCells(). */
let hostedOf: (runtime: SessionRuntime) => HostedCells;

/**
 * What codecell-host does with a session's cells besides the public interface: mirror their
 * journals, run cells lost with another host again, restore paused ones (hosted-cells.ts).
 */
export const hostedCells = (runtime: SessionRuntime): HostedCells => hostedOf(runtime);

export const SessionRuntime: SessionRuntimeConstructor = class SessionRuntime extends SessionBase {
  readonly key: string;
  readonly #delegate: SessionRuntimeDelegate;
  /** Answers to paused calls being made into outcomes (an approved call is made first). */
  readonly #answers = new PendingAnswers();
  readonly #tools: CellTool[];
  /** How its cells are made (cell-maker.ts). */
  readonly #maker: CellMaker;
  readonly #limits: CellLimits;
  readonly #caps: Partial<CellLimits> | undefined;
  readonly #observer: ((event: SessionCellEvent) => void) | undefined;
  readonly #deadlineMs: number;
  readonly #storedValues: StoredValues | undefined;
  readonly #logger: Logger;
  readonly #cells: SessionCells;
  readonly #streams: CellStreams;
  /** The one gate every cell comes in by (counts, ids, isolates, the memory budget). */
  readonly #gate: SessionGate;
  #cellSeq = 0;
  /** The options a snapshot keeps (see suspend). */
  readonly #given: SessionSnapshot['options'];
  #suspending = false;
  /** What its host does with its cells besides the public interface (hostedCells). */
  readonly #hosted: HostedCells;
  /** With a store: what it writes ahead there (SPEC §16). */
  readonly #durable: SessionRecords | undefined;
  /** Why its store can keep it no more (another process adopted it): every request is refused so. */
  #storeLost: Error | undefined;

  static {
    hostedOf = (runtime) => {
      // A brand check, not a cast: only this class's sessions have hosted cells.
      if (!(#hosted in runtime)) throw new CodeCellError('ERR_INVALID_REQUEST', 'not a SessionRuntime');
      return runtime.#hosted;
    };
  }

  static recover(...[store, delegateFor, options]: Parameters<SessionRuntimeConstructor['recover']>) {
    const { keys: _, ...given } = checkOptionsObject(options) as NonNullable<typeof options>;
    return recoverSessions(store, delegateFor, options, (read, lease, delegate) => {
      const from = read.ledger.restore();
      const session = SessionRuntime.#made(delegate, { ...read.options, ...given, store }, from, { lease, read });
      const durable = session.#durable as SessionRecords;
      return { session, hosted: session.#hosted, durable, logger: session.#logger };
    });
  }

  static resume(snapshot: SessionSnapshot, delegate: SessionRuntimeDelegate, options?: SessionRuntimeOptions) {
    const checked = checkSnapshot(snapshot);
    if (checkOptionsObject(options).store !== undefined)
      throw new CodeCellError('ERR_INVALID_REQUEST', 'a store is given to new SessionRuntime, not to resume');
    const session = SessionRuntime.#made(
      delegate,
      { ...checked.snapshot.options, ...checkOptionsObject(options) },
      checked.snapshot,
      undefined,
      checked.storedBytes,
    );
    session.#hosted.restorePaused(checked.snapshot.pausedCells ?? [], session.#limits.maxCellsPerSession);
    return session;
  }

  /**
   * A session that goes on from `from`: its stored values (`storedBytes` of them, checked), ids
   * after its; `adopted`: the lease and log a recovery took, its store's.
   */
  static #made(
    delegate: SessionRuntimeDelegate,
    options: SessionRuntimeOptions,
    from: { storedValues: Record<string, string>; nextCellId: number },
    adopted?: Adopted,
    storedBytes?: number,
  ): SessionRuntime {
    const session = new SessionRuntime(delegate, options, adopted);
    const stored = session.#storedValues;
    if (storedBytes !== undefined) checkStoredBytes(storedBytes, session.#limits.maxStoredBytes, stored !== undefined);
    stored?.restore(from.storedValues);
    session.#cellSeq = from.nextCellId - 1;
    return session;
  }

  /** `adopted`: the lease and log a recovery took (internal: the public constructor takes two arguments). */
  constructor(delegate: SessionRuntimeDelegate, options?: SessionRuntimeOptions, adopted?: Adopted) {
    super();
    assertIsolatesUsable();
    this.#delegate = checkDelegate(delegate);
    const checked = checkRuntimeOptions(options);
    const { caps, limits, logger, onCatastrophicError, pool } = checked;
    this.key = checked.key;
    this.#logger = logger;
    this.#caps = caps;
    this.#limits = limits;
    this.#deadlineMs = checked.deadlineMs;
    const lost = (error: Error): void => this.#lostStore(error);
    const session = { lost, logger, nextCellId: () => this.#cellSeq + 1 };
    this.#durable = durabilityOf(checked.stored, this.key, adopted, checked.given, () => this.#hosted, session);
    const committed = this.#durable?.storing(checked.onStoredValuesCommitted) ?? checked.onStoredValuesCommitted;
    this.#storedValues = checked.storedValues ? new StoredValues(logger, committed) : undefined;
    this.#observer = checked.observer;
    this.#cells = new SessionCells(this.#logger);
    // Committed cells keep their events for a late first subscriber as long as their outcome.
    this.#streams = new CellStreams({
      logger: this.#logger,
      retainClosed: MAX_UNREAD_TERMINALS,
      sessionFromCells: true,
      cursor: this.#durable?.cursor(adopted?.read),
    });
    const gated = {
      cells: this.#cells,
      streams: this.#streams,
      observer: this.#observer,
      lastCellId: () => this.#cellSeq,
      closing: () => this.shuttingDown || this.#suspending,
      assertOpen: () => this.#assertOpen(),
    };
    this.#gate = new SessionGate(gated, pool, this.#limits.maxRunningCells, this.#logger, onCatastrophicError);
    this.#given = checked.given;
    this.#maker = new CellMaker({
      key: this.key,
      delegate: this.#delegate,
      durable: this.#durable,
      deadlineMs: this.#deadlineMs,
      deterministic: checked.deterministic,
      logger,
      storedValues: this.#storedValues,
      observer: this.#observer,
      streams: this.#streams,
      cells: this.#cells,
      gate: this.#gate,
      inputChecks: new ToolInputChecks(logger),
      mirrored: () => this.#hosted.mirrored,
    });
    this.#tools = checked.tools === undefined ? [] : this.#maker.checked(checked.tools);
    const maker = this.#maker;
    this.#hosted = new HostedCells({
      caps: this.#caps,
      tools: this.#tools,
      limits: this.#limits,
      gate: this.#gate,
      nextCellId: () => this.#cellSeq + 1,
      assertOpen: () => this.#assertOpen(),
      checked: (tools) => maker.checked(tools),
      sandboxConfig: (tools, limits, values) => maker.sandboxConfig(tools, limits, values),
      newCell: (...args) => maker.newCell(...args),
      cell: (cellId) => this.#cells.get(cellId),
      openCell: (cellId) => this.#openCell(cellId),
    });
  }

  /** The store can keep the session no more: it ends, and refuses every request with why. */
  #lostStore(error: Error): void {
    this.#storeLost = error;
    this.#logger.warn(`codecell: session ${this.key} ends: ${error.message}`);
    void this.shutdown();
  }

  async execute(request: ExecuteRequest, initialObserve: ObserveMode = DEFAULT_OBSERVE): Promise<StartedCell> {
    // The caller's context now: the cell's span is its child (SPEC §14).
    const parent = activeContext();
    this.#assertOpen();
    // A key whose session ended before: ids go on after that one's (no idempotency key repeats).
    if (this.#durable !== undefined) this.#cellSeq = Math.max(this.#cellSeq, ((await this.#durable.ready()) ?? 1) - 1);
    let clock = stageClock();
    const checked = checkExecuteRequest(request);
    const mode = checkObserveMode(initialObserve, 'initialObserve');
    const { limits, tools, program } = this.#maker.prepare(checked, this.#tools, this.#limits, this.#caps);
    const cellId = String(++this.#cellSeq);
    clock = stageDone('prepare', clock);

    const span = startSpan(
      'codecell.cell',
      { 'codecell.cell.id': cellId, 'codecell.cell.language': checked.language },
      parent,
    );
    const toolCallId = checked.toolCallId ?? `exec-${cellId}`;
    let initialEvent: Promise<CellEvent> | undefined;
    await this.#gate.admit(
      cellId,
      limits,
      span,
      (isolate) => this.#maker.newCell(isolate, cellId, toolCallId, tools, limits, undefined, span),
      (cell) => {
        stageDone('admit', clock);
        initialEvent = cell.observe(mode);
        if ('error' in program) cell.fail(program.error);
        else cell.start(program);
      },
    );
    // With a store, the cell's id is given out once what it runs is kept.
    if (this.#durable !== undefined) await this.#durable.admitted(cellId);
    return this.startedCell(cellId, this.#whenDurable(cellId, initialEvent as Promise<CellEvent>));
  }

  /** An answer about the cell, once what it reports is durable (with a store: SessionRecords#handOut). */
  #whenDurable(cellId: CellId, event: Promise<CellEvent>): Promise<CellEvent> {
    const durable = this.#durable;
    return durable === undefined ? event : event.then((value) => durable.handOut(cellId, value));
  }

  async suspend(options: SuspendOptions = {}): Promise<SessionSnapshot> {
    const signal = checkSuspendOptions(options);
    this.#assertOpen();
    this.#suspending = true;
    await this.#cells.settled(signal);
    const pausedCells = this.#cells.interrupted.flatMap((cell) => snapshotPausedCell(cell) ?? []);
    const snapshot: SessionSnapshot = {
      version: SNAPSHOT_VERSION,
      options: this.#given,
      storedValues: this.#storedValues?.snapshot().stored ?? {},
      nextCellId: this.#cellSeq + 1,
      ...(pausedCells.length > 0 ? { pausedCells } : {}),
    };
    await this.shutdown();
    return snapshot;
  }

  #assertNotSuspending(): void {
    if (this.#suspending) throw new CodeCellError('ERR_SHUTTING_DOWN', 'the session is being suspended');
  }

  /** Throws unless the session takes new cells (not shutting down, not being suspended). */
  #assertOpen(): void {
    if (this.#storeLost !== undefined) throw this.#storeLost;
    this.assertNotShuttingDown();
    this.#assertNotSuspending();
  }

  async beginObserve(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<PendingEvent> {
    const cell = this.#openCell(cellId);
    const event = this.#whenDurable(cell.id, cell.observe(checkObserveMode(mode), signal));
    return {
      event: quiet(
        traced('codecell.observe', { 'codecell.cell.id': cell.id, 'codecell.observe.mode': mode.kind }, event),
      ),
    };
  }

  async terminate(cellId: CellId): Promise<CellEvent> {
    const cell = this.#openCell(cellId);
    return traced('codecell.terminate', { 'codecell.cell.id': cell.id }, this.#whenDurable(cell.id, cell.terminate()));
  }

  async resumeCell(cellId: CellId, answer: CellAnswer, observe: ObserveMode = DEFAULT_OBSERVE): Promise<CellEvent> {
    const parent = activeContext();
    this.#assertOpen();
    const cell = this.#openCell(cellId);
    const checked = checkCellAnswer(answer);
    const mode = checkObserveMode(observe, 'observe');
    const paused = { call: cell.pausedCall, inDoubt: cell.pausedInDoubt };
    const delegate = this.#durable?.aheadOf(this.#delegate) ?? this.#delegate;
    const outcome = await this.#answers.decide(cell.id, checked, paused, delegate);
    // An approved call took its time: the cell may have been ended meanwhile.
    this.assertNotShuttingDown();
    if (!cell.isInterrupted) throw notInterrupted(cell.id);
    const span = startSpan('codecell.cell', { 'codecell.cell.id': cellId, 'codecell.cell.resumed': true }, parent);
    cell.resume(await this.#gate.resumed(cell, span), outcome, span);
    return this.#whenDurable(cell.id, cell.observe(mode));
  }

  cells(): OpenCell[] {
    return this.#cells.open;
  }

  protected cellEvents(cellId: CellId, options: EventsOptions): HandOffStream<CellStreamEvent> {
    // A closed cell's events are kept for the newest 64 closed cells.
    return this.#streams.subscribe(cellId, options);
  }

  protected sessionEvents(after: number | undefined): HandOffStream<SessionStreamEvent> {
    return this.#streams.subscribeSession(after);
  }

  #openCell(cellId: unknown): Cell {
    const id = this.checkCellId(cellId);
    const cell = this.#cells.get(id);
    // Ids are this session's sequence: one at or below it was a cell of this session that finished.
    if (cell === undefined) throw missingCell(id, /^[1-9]\d*$/.test(id) && Number(id) <= this.#cellSeq);
    return cell;
  }

  protected shutdownOnce(): Promise<void> {
    return traced('codecell.shutdown', { 'codecell.cells': this.#cells.liveCount }, this.#shutdownCells());
  }

  async #shutdownCells(): Promise<void> {
    const shuttingDown = new CodeCellError('ERR_SHUTTING_DOWN', 'the session is shutting down');
    this.#gate.refuseAll(shuttingDown);
    this.#answers.abortAll(shuttingDown);
    const deadline = new Deadline(this.#deadlineMs);
    try {
      await this.#cells.shutdown(deadline);
    } finally {
      deadline.clear();
      // Every cell closed (their streams ended with it); the session-wide streams end here.
      this.#streams.endAll();
      // Ended, not lost: nothing of it is left to recover.
      if (this.#durable !== undefined) await this.#durable.log.end(true);
    }
  }
};
