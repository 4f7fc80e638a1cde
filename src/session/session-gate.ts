// A session's one gate (STYLE 31): every cell that comes in — executed, replayed on this host,
// restored from a snapshot — is checked here (its source against maxSourceBytes, the session's
// live cells against maxCellsPerSession, the ids left), takes its isolate here (from the pool,
// within its memory budget; refused at once by a shutdown) and is registered in one continuation.
// A paused cell holds its journal and code of the memory budget while it waits with no isolate.
import type { Cell } from '../cell/cell.js';
import { CodeCellError } from '../errors.js';
import { NO_ISOLATE, type CellIsolate, type CellRunIsolate } from '../isolate/cell-isolate.js';
import type { IsolatePool } from '../isolate/pool.js';
import { RunGate } from '../isolate/run-gate.js';
import { byteLength } from '../json.js';
import type { CellLimits } from '../limits.js';
import type { CellStreams } from '../streams/cell-streams.js';
import { endSpan, type TraceSpan } from '../tracing.js';
import type { CellId, Logger, SessionCellEvent } from '../types.js';

/** Cells paused (CellInterrupt) in this process, over every session: a host's metrics read it. */
let pausedCells = 0;

export const pausedCellsTotal = (): number => pausedCells;
import { Admissions } from './admissions.js';
import type { SessionCells } from './session-cells.js';

/** What the gate needs of its session. */
export interface GatedSession {
  readonly cells: SessionCells;
  readonly streams: CellStreams;
  readonly observer: ((event: SessionCellEvent) => void) | undefined;
  /** The highest cell id the session gave out. */
  lastCellId(): number;
  /** Whether the session is shutting down or being suspended (a cell admitted then never runs). */
  closing(): boolean;
  /** Throws the error a closing session refuses with. */
  assertOpen(): void;
}

export class SessionGate {
  readonly #session: GatedSession;
  readonly #pool: IsolatePool;
  /** Isolates being taken for cells; a shutdown refuses them at once. */
  readonly #admissions: Admissions;
  /** The session's share of the CPU: maxRunningCells of its cells execute at once. */
  readonly #runs: RunGate;
  /** Cells waiting for their isolate (they count against maxCellsPerSession already). */
  #admitting = 0;
  /** What each paused cell holds of the pool's memory budget, until it runs again or closes. */
  readonly #pausedMemory = new Map<Cell, () => void>();

  constructor(
    session: GatedSession,
    pool: IsolatePool,
    maxRunningCells: number,
    logger: Logger,
    onCatastrophicError: ((message: string, cellId: CellId) => void) | undefined,
  ) {
    this.#session = session;
    this.#pool = pool;
    this.#admissions = new Admissions(pool, logger, onCatastrophicError);
    this.#runs = new RunGate(maxRunningCells);
  }

  /**
   * Refuses a cell over maxSourceBytes, one past the session's maxCellsPerSession, or one the
   * session has no id left for.
   */
  check(source: string, limits: CellLimits): void {
    if (this.#session.lastCellId() >= Number.MAX_SAFE_INTEGER)
      throw new CodeCellError('ERR_LIMIT_EXCEEDED', 'the session has given out every cell id it can');
    const sourceBytes = byteLength(source);
    if (sourceBytes > limits.maxSourceBytes) {
      const why = `source is ${sourceBytes} bytes, over the maxSourceBytes limit of ${limits.maxSourceBytes}`;
      throw new CodeCellError('ERR_LIMIT_EXCEEDED', why);
    }
    if (this.#session.cells.liveCount + this.#admitting >= limits.maxCellsPerSession) {
      const why = `the session already has ${limits.maxCellsPerSession} live cells (maxCellsPerSession)`;
      throw new CodeCellError('ERR_LIMIT_EXCEEDED', why);
    }
  }

  /** Throws ERR_LIMIT_EXCEEDED unless a paused cell holding `bytes` fits the memory budget. */
  assertRoomForBytes(bytes: number): void {
    this.#pool.assertRoomForBytes(bytes);
  }

  /**
   * The cell `make` makes with an isolate (waited for if need be): its admission told to its
   * followers, registered as the session's and begun (`begin`), all in one continuation.
   */
  async admit(
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
    if (this.#session.closing()) {
      // Admitted just as shutdown (or suspend) began: it never runs.
      endSpan(span, {}, 'the session is shutting down');
      isolate.dispose();
      this.#session.assertOpen();
    }
    isolate.useGate(this.#runs);
    const cell = this.#register(cellId, () => make(isolate));
    // Started in the continuation that registered it: a shutdown never finds it registered, not run.
    begin(cell);
    return cell;
  }

  /** A cell with no isolate (restored or replayed paused), registered and counted as any cell. */
  enlist(cellId: CellId, make: (isolate: CellRunIsolate) => Cell): Cell {
    return this.#register(cellId, () => make(NO_ISOLATE));
  }

  /** The isolate of a paused cell that runs again (resumeCell), within the session's share of the CPU. */
  async resumed(cell: Cell, span: TraceSpan | undefined): Promise<CellIsolate> {
    const isolate = await this.#admissions.take(cell.memoryMb, span, cell.id);
    isolate.useGate(this.#runs);
    return isolate;
  }

  /** A cell paused (it holds its journal and code of the memory budget), or runs again or closed (it lets go). */
  paused(cell: Cell, paused: boolean): void {
    this.#pausedMemory.get(cell)?.();
    if (this.#pausedMemory.delete(cell)) pausedCells--;
    if (paused) {
      this.#pausedMemory.set(cell, this.#pool.reserveBytes(cell.heldBytes));
      pausedCells++;
    }
  }

  /** The session shuts down: admissions still waiting are refused with `error`. */
  refuseAll(error: CodeCellError): void {
    this.#admissions.refuseAll(error);
  }

  /** Registers the cell `make` makes: its admission told to its followers, counted as live. */
  #register(cellId: CellId, make: () => Cell): Cell {
    const { streams, observer, cells } = this.#session;
    streams.admit(cellId);
    observer?.({ cellId, type: 'admitted' });
    const cell = make();
    cells.add(cell);
    return cell;
  }
}
