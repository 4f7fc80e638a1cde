// src/session/ — the session: SessionRuntime (this file), what both session kinds share
// (session-base.ts), a session's cells by where they are in their life (session-cells.ts) and a
// cell's source made ready to compile (source.ts). It imports every other folder of src/; only
// src/index.ts and src/internal.ts import it.
//
// The in-process session: admits cells, routes observe/terminate to them, and shuts them all
// down under one shared callback deadline.
import { Deadline } from '../cell/deadline.js';
import { Cell } from '../cell/cell.js';
import type { CellTool } from '../cell/tool-calls.js';
import { CellStreams } from '../streams/cell-streams.js';
import { consoleLogger } from '../logger.js';
import { CodeCellError, missingCell, notInterrupted, quiet } from '../errors.js';
import { DEFAULT_OBSERVE } from '../defaults.js';
import { NO_ISOLATE, type CellIsolate, type CellRunIsolate } from '../isolate/cell-isolate.js';
import type { CellJournal } from '../cell/journal.js';
import { activeContext, endSpan, startSpan, traced, type TraceSpan } from '../tracing.js';
import { Admissions } from './admissions.js';
import { checkPausedCell, snapshotPausedCell, storedBytesOf } from './paused-cells.js';
import { HostedCells } from './hosted-cells.js';
import { assertIsolatesUsable } from '../isolate/load.js';
import { defaultIsolatePool, IsolatePool } from '../isolate/pool.js';
import { RunGate } from '../isolate/run-gate.js';
import { stageClock, stageDone } from '../isolate/stages.js';
import { byteLength } from '../json.js';
import { assertWithinCaps, checkLimits, clampToCaps, DEFAULT_LIMITS, mergeLimits, type CellLimits } from '../limits.js';
import { ToolInputChecks } from '../tools/tool-input.js';
import { SessionBase } from './session-base.js';
import { StoredValues } from './stored-values.js';
import { MAX_UNREAD_TERMINALS, SessionCells } from './session-cells.js';
import type { SessionRuntimeOptions } from './options.js';
import { prepareSource } from './source.js';
import {
  checkSnapshot,
  checkStoredBytes,
  SNAPSHOT_VERSION,
  snapshotOptions,
  type SessionSnapshot,
} from './snapshot.js';

export type { SessionRuntimeOptions } from './options.js';
import type {
  CellAnswer,
  CellEvent,
  CellId,
  CodeCellSession,
  CellStreamEvent,
  EventsOptions,
  ExecuteRequest,
  HandOffStream,
  Logger,
  ObserveMode,
  PendingEvent,
  SessionCellEvent,
  SessionRuntimeDelegate,
  SessionStreamEvent,
  StartedCell,
} from '../types.js';
import {
  checkCallback,
  checkCellAnswer,
  checkDeadlineMs,
  checkDelegate,
  checkExecuteRequest,
  checkLogger,
  checkObserveMode,
  checkOptionsObject,
  checkStoredValues,
  checkSuspendOptions,
  checkTools,
} from '../validate.js';

/** The one deadline (ms) within which cancelled callbacks are waited for on terminate and shutdown. */
export const DEFAULT_CALLBACK_ABORT_DEADLINE_MS = 100;

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
   * cell is not interrupted; ERR_MISSING_CELL for a cell the session does not have.
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

/** What suspend() takes. */
export interface SuspendOptions {
  /** Terminates the running cells instead of waiting for them to end. */
  signal?: AbortSignal;
}

/** The SessionRuntime constructor, and resume. */
export interface SessionRuntimeConstructor {
  /** Validates `delegate` and `options` at once: ERR_INVALID_REQUEST. */
  new (delegate: SessionRuntimeDelegate, options?: SessionRuntimeOptions): SessionRuntime;
  /**
   * A live session from a snapshot (suspend()): its options, its stored values, and cell ids
   * that continue. `options` adds what a snapshot does not hold (logger, caps, isolatePool, …).
   * A malformed, foreign-version or oversized snapshot is refused with ERR_INVALID_REQUEST.
   */
  resume(snapshot: SessionSnapshot, delegate: SessionRuntimeDelegate, options?: SessionRuntimeOptions): SessionRuntime;
}

export const SessionRuntime: SessionRuntimeConstructor = class SessionRuntime extends SessionBase {
  readonly #delegate: SessionRuntimeDelegate;
  readonly #tools: CellTool[];
  /** Its tools' input checks, compiled for this session alone. */
  readonly #inputChecks: ToolInputChecks;
  readonly #limits: CellLimits;
  readonly #caps: Partial<CellLimits> | undefined;
  readonly #observer: ((event: SessionCellEvent) => void) | undefined;
  /** The session's share of the CPU: maxRunningCells of its cells execute at once. */
  readonly #gate: RunGate;
  readonly #deadlineMs: number;
  readonly #storedValues: StoredValues | undefined;
  readonly #logger: Logger;
  readonly #cells: SessionCells;
  readonly #streams: CellStreams;
  /** Isolates being taken for cells; shutdown refuses them at once. */
  readonly #admissions: Admissions;
  #admitting = 0;
  #cellSeq = 0;
  /** The options a snapshot keeps (see suspend). */
  readonly #given: SessionSnapshot['options'];
  #suspending = false;
  readonly #pool: IsolatePool;
  /** What each paused cell holds of its pool's memory budget (its journal and code), until it runs or closes. */
  readonly #pausedMemory = new Map<Cell, () => void>();
  /** What its host does with its cells besides the public interface (hostedCells). */
  readonly #hosted: HostedCells;

  static {
    hostedOf = (runtime) => {
      // A brand check, not a cast: only this class's sessions have hosted cells.
      if (!(#hosted in runtime)) throw new CodeCellError('ERR_INVALID_REQUEST', 'not a SessionRuntime');
      return runtime.#hosted;
    };
  }

  static resume(snapshot: SessionSnapshot, delegate: SessionRuntimeDelegate, options?: SessionRuntimeOptions) {
    const checked = checkSnapshot(snapshot);
    const session = new SessionRuntime(delegate, { ...checked.snapshot.options, ...checkOptionsObject(options) });
    const stored = session.#storedValues;
    checkStoredBytes(checked.storedBytes, session.#limits.maxStoredBytes, stored !== undefined);
    stored?.restore(checked.snapshot.storedValues);
    session.#cellSeq = checked.snapshot.nextCellId - 1;
    const pausedCells = checked.snapshot.pausedCells ?? [];
    // Through the session's one gate: no more than it may hold, each id once.
    if (pausedCells.length > session.#limits.maxCellsPerSession)
      throw new CodeCellError(
        'ERR_INVALID_REQUEST',
        `cannot resume the session: it has ${pausedCells.length} paused cells, over its maxCellsPerSession ` +
          `(${session.#limits.maxCellsPerSession})`,
      );
    const ids = new Set<CellId>();
    for (const [index, saved] of pausedCells.entries()) {
      const cell = checkPausedCell(saved, index, checked.snapshot.nextCellId);
      if (ids.has(cell.event.cellId))
        throw new CodeCellError(
          'ERR_INVALID_REQUEST',
          `cannot resume the session: snapshot.pausedCells holds cell ${cell.event.cellId} twice`,
        );
      ids.add(cell.event.cellId);
      session.#hosted.restorePaused(cell);
    }
    return session;
  }

  constructor(delegate: SessionRuntimeDelegate, options?: SessionRuntimeOptions) {
    super();
    assertIsolatesUsable();
    this.#delegate = checkDelegate(delegate);
    const checked = checkOptionsObject(options);
    this.#logger = checkLogger(checked.logger) ?? consoleLogger;
    this.#inputChecks = new ToolInputChecks(this.#logger);
    this.#tools = checked.tools === undefined ? [] : this.#checked(checkTools(checked.tools, 'options.tools'));
    this.#caps = checked.caps === undefined ? undefined : checkLimits(checked.caps, 'options.caps');
    this.#limits = mergeLimits(clampToCaps(DEFAULT_LIMITS, this.#caps), checkLimits(checked.limits, 'options.limits'));
    assertWithinCaps(this.#limits, this.#caps, 'options.limits');
    this.#deadlineMs = checkDeadlineMs(checked.callbackAbortDeadlineMs) ?? DEFAULT_CALLBACK_ABORT_DEADLINE_MS;
    const committed = checkCallback<(written: Record<string, string>) => void>(
      checked.onStoredValuesCommitted,
      'onStoredValuesCommitted',
    );
    this.#storedValues =
      checkStoredValues(checked.storedValues) === 'enabled' ? new StoredValues(this.#logger, committed) : undefined;
    const onCatastrophicError = checkCallback<(message: string, cellId: CellId) => void>(
      checked.onCatastrophicError,
      'onCatastrophicError',
    );
    if (checked.isolatePool !== undefined && !(checked.isolatePool instanceof IsolatePool)) {
      throw new CodeCellError('ERR_INVALID_REQUEST', 'options.isolatePool must be an IsolatePool');
    }
    const pool = (checked.isolatePool as IsolatePool | undefined) ?? defaultIsolatePool;
    this.#pool = pool;
    this.#admissions = new Admissions(pool, this.#logger, onCatastrophicError);
    this.#observer = checkCallback(checked.observer, 'observer');
    this.#cells = new SessionCells(this.#logger);
    this.#gate = new RunGate(this.#limits.maxRunningCells);
    // Committed cells keep their events for a late first subscriber as long as their outcome.
    this.#streams = new CellStreams({
      logger: this.#logger,
      retainClosed: MAX_UNREAD_TERMINALS,
      sessionFromCells: true,
    });
    this.#given = snapshotOptions(checked);
    this.#hosted = new HostedCells({
      caps: this.#caps,
      nextCellId: () => this.#cellSeq + 1,
      assertOpen: () => {
        this.assertNotShuttingDown();
        this.#assertNotSuspending();
      },
      checkAdmission: (source, limits) => this.#checkAdmission(source, limits),
      assertRoomForBytes: (bytes) => pool.assertRoomForBytes(bytes),
      checked: (tools) => this.#checked(tools),
      sandboxConfig: (tools, limits, values) => this.#sandboxConfig(tools, limits, values),
      enlist: (cellId, make) => this.#enlist(cellId, make),
      admit: (cellId, limits, span, make, begin) => this.#admit(cellId, limits, span, make, begin),
      newCell: (isolate, cellId, toolCallId, tools, limits, journal, span) =>
        this.#newCell(isolate, cellId, toolCallId, tools, limits, journal, span),
      cell: (cellId) => this.#cells.get(cellId),
      openCell: (cellId) => this.#openCell(cellId),
    });
  }

  async execute(request: ExecuteRequest, initialObserve: ObserveMode = DEFAULT_OBSERVE): Promise<StartedCell> {
    // The caller's context now: the cell's span is its child (SPEC §14).
    const parent = activeContext();
    this.assertNotShuttingDown();
    this.#assertNotSuspending();
    let clock = stageClock();
    const checked = checkExecuteRequest(request);
    const mode = checkObserveMode(initialObserve, 'initialObserve');
    const limits = mergeLimits(this.#limits, checked.limits);
    assertWithinCaps(limits, this.#caps, 'request.limits');
    this.#checkAdmission(checked.source, limits);
    const tools = checked.tools === undefined ? this.#tools : this.#checked(checked.tools);
    const prepared = prepareSource(checked.source, checked.language, checked.filename);
    const cellId = String(++this.#cellSeq);
    const config = this.#sandboxConfig(tools, limits);
    const storedAt = this.#storedValues === undefined ? null : this.#storedValues.commits;
    clock = stageDone('prepare', clock);

    const span = startSpan(
      'codecell.cell',
      { 'codecell.cell.id': cellId, 'codecell.cell.language': checked.language },
      parent,
    );
    const toolCallId = checked.toolCallId ?? `exec-${cellId}`;
    let initialEvent: Promise<CellEvent> | undefined;
    await this.#admit(
      cellId,
      limits,
      span,
      (isolate) => this.#newCell(isolate, cellId, toolCallId, tools, limits, undefined, span),
      (cell) => {
        stageDone('admit', clock);
        initialEvent = cell.observe(mode);
        if (prepared.error !== undefined) cell.fail(prepared.error);
        else cell.start({ source: prepared.code, filename: prepared.filename, config, storedAt });
      },
    );
    return this.startedCell(cellId, initialEvent as Promise<CellEvent>);
  }

  async suspend(options: SuspendOptions = {}): Promise<SessionSnapshot> {
    const signal = checkSuspendOptions(options);
    this.assertNotShuttingDown();
    this.#assertNotSuspending();
    this.#suspending = true;
    // Cells a terminate of the caller's already ends are left to it.
    const stop = (): void => {
      for (const cell of this.#cells.live) cell.terminate().catch(() => {});
    };
    if (signal?.aborted === true) stop();
    else signal?.addEventListener('abort', stop, { once: true });
    try {
      await this.#cells.whenDrained();
      // A paused cell's calls still in flight are waited for too (the signal cancels them).
      await Promise.all(this.#cells.interrupted.map((cell) => cell.callsSettled(signal)));
    } finally {
      signal?.removeEventListener('abort', stop);
    }
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

  /** The tools with their input checks. */
  #checked(tools: CellTool[]): CellTool[] {
    return tools.map((tool) => ({ ...tool, check: this.#inputChecks.checkOf(tool.definition, tool.id) }));
  }

  /**
   * The cell `make` makes with an isolate (waited for if need be): its admission told to its
   * followers, registered as the session's and begun (`begin`), all in one continuation.
   */
  async #admit(
    cellId: CellId,
    limits: CellLimits,
    span: TraceSpan | undefined,
    make: (isolate: CellIsolate) => Cell,
    begin: (cell: Cell) => void,
  ): Promise<Cell> {
    this.#admitting++;
    let isolate: CellIsolate;
    try {
      isolate = await this.#admissions.take(limits.memoryMb, span, cellId);
    } finally {
      // In the same continuation that registers the cell, so the live count never dips.
      this.#admitting--;
    }
    if (this.shuttingDown || this.#suspending) {
      // Admitted just as shutdown (or suspend) began: it never runs.
      endSpan(span, {}, 'the session is shutting down');
      isolate.dispose();
      this.assertNotShuttingDown();
      this.#assertNotSuspending();
    }
    isolate.useGate(this.#gate);
    this.#streams.admit(cellId);
    this.#observer?.({ cellId, type: 'admitted' });
    const cell = make(isolate);
    this.#cells.add(cell);
    // Started in the continuation that registered it: a shutdown never finds it registered, not run.
    begin(cell);
    return cell;
  }

  /**
   * A cell with no isolate (restored or replayed paused): its admission told to its followers and
   * counted as any cell's, registered as the session's.
   */
  #enlist(cellId: CellId, make: (isolate: CellRunIsolate) => Cell): Cell {
    const cell = make(NO_ISOLATE);
    this.#streams.admit(cellId);
    this.#observer?.({ cellId, type: 'admitted' });
    this.#cells.add(cell);
    return cell;
  }

  /** A paused cell holds its journal and code of the memory budget; running again or closed, it lets go. */
  #holdPaused(cell: Cell, paused: boolean): void {
    this.#pausedMemory.get(cell)?.();
    this.#pausedMemory.delete(cell);
    if (paused) this.#pausedMemory.set(cell, this.#pool.reserveBytes(cell.heldBytes));
  }

  /**
   * Refuses a cell over maxSourceBytes, one past the session's maxCellsPerSession, or one the
   * session has no id left for.
   */
  #checkAdmission(source: string, limits: CellLimits): void {
    if (this.#cellSeq >= Number.MAX_SAFE_INTEGER)
      throw new CodeCellError('ERR_LIMIT_EXCEEDED', 'the session has given out every cell id it can');
    const sourceBytes = byteLength(source);
    if (sourceBytes > limits.maxSourceBytes) {
      const why = `source is ${sourceBytes} bytes, over the maxSourceBytes limit of ${limits.maxSourceBytes}`;
      throw new CodeCellError('ERR_LIMIT_EXCEEDED', why);
    }
    if (this.#cells.liveCount + this.#admitting >= limits.maxCellsPerSession) {
      const why = `the session already has ${limits.maxCellsPerSession} live cells (maxCellsPerSession)`;
      throw new CodeCellError('ERR_LIMIT_EXCEEDED', why);
    }
  }

  /**
   * The configuration the sandbox is given as data (tools, stored values, limits): the session's
   * stored values now, or those a paused cell started with.
   */
  #sandboxConfig(tools: readonly CellTool[], limits: CellLimits, values?: Record<string, string> | null): string {
    const { stored, storedBytes } =
      this.#storedValues === undefined
        ? { stored: null, storedBytes: 0 }
        : values === undefined
          ? this.#storedValues.snapshot()
          : { stored: values ?? {}, storedBytes: storedBytesOf(values ?? {}) };
    return JSON.stringify({
      tools: tools.map(({ id, definition, kind }) => ({ id, kind, description: definition.description ?? '' })),
      stored,
      storedBytes,
      limits: { maxNotificationBytes: limits.maxNotificationBytes, maxStoredBytes: limits.maxStoredBytes },
    });
  }

  #newCell(
    isolate: CellRunIsolate,
    cellId: CellId,
    toolCallId: string,
    tools: readonly CellTool[],
    limits: CellLimits,
    journal?: CellJournal,
    span?: TraceSpan,
  ): Cell {
    const cell: Cell = new Cell(isolate, {
      id: cellId,
      toolCallId,
      tools,
      limits,
      span,
      ...(journal === undefined ? {} : { journal }),
      delegate: this.#delegate,
      callbackAbortDeadlineMs: this.#deadlineMs,
      logger: this.#logger,
      commitStore: (writes) => this.#storedValues?.commit(writes, limits.maxStoredBytes),
      emit: (event, size) => {
        this.#observer?.({ cellId, ...event });
        this.#streams.emit(cellId, event, size);
      },
      onCommit: (unread) => this.#cells.committed(cell, unread),
      onPause: (paused) => {
        this.#cells.paused(cell, paused);
        this.#holdPaused(cell, paused);
      },
      onTaken: () => this.#cells.taken(cell),
      onClosed: () => {
        this.#cells.closed(cell);
        this.#holdPaused(cell, false);
      },
    });
    return cell;
  }

  async beginObserve(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<PendingEvent> {
    const cell = this.#openCell(cellId);
    const event = cell.observe(checkObserveMode(mode), signal);
    return {
      event: quiet(
        traced('codecell.observe', { 'codecell.cell.id': cell.id, 'codecell.observe.mode': mode.kind }, event),
      ),
    };
  }

  async terminate(cellId: CellId): Promise<CellEvent> {
    const cell = this.#openCell(cellId);
    return traced('codecell.terminate', { 'codecell.cell.id': cell.id }, cell.terminate());
  }

  async resumeCell(cellId: CellId, answer: CellAnswer, observe: ObserveMode = DEFAULT_OBSERVE): Promise<CellEvent> {
    const parent = activeContext();
    this.assertNotShuttingDown();
    this.#assertNotSuspending();
    const cell = this.#openCell(cellId);
    const checked = checkCellAnswer(answer);
    const mode = checkObserveMode(observe, 'observe');
    if (!cell.isInterrupted) throw notInterrupted(cell.id);
    const span = startSpan('codecell.cell', { 'codecell.cell.id': cellId, 'codecell.cell.resumed': true }, parent);
    const isolate = await this.#admissions.take(cell.memoryMb, span, cellId);
    isolate.useGate(this.#gate);
    cell.resume(isolate, checked, span);
    return cell.observe(mode);
  }

  protected cellEvents(cellId: CellId, options: EventsOptions): HandOffStream<CellStreamEvent> {
    // A closed cell's events are kept for the newest 64 closed cells.
    return this.#streams.subscribe(cellId, options);
  }

  protected sessionEvents(): HandOffStream<SessionStreamEvent> {
    return this.#streams.subscribeSession();
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
    this.#admissions.refuseAll(shuttingDown);
    const deadline = new Deadline(this.#deadlineMs);
    try {
      await this.#cells.shutdown(deadline);
    } finally {
      deadline.clear();
      // Every cell closed (their streams ended with it); the session-wide streams end here.
      this.#streams.endAll();
    }
  }
};
