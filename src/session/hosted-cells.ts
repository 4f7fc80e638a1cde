// What a host does with a session's cells besides the public interface (SPEC §13): it mirrors each
// running cell's journal to its client (cellJournal), runs a cell lost with another host again
// here (replayCell, settleCall), and restores a snapshot's paused cells. Every cell that comes in
// this way goes through the session's one gate, as an executed cell does (STYLE 31): its count
// against maxCellsPerSession, its caps, and the memory its journal holds. codecell-host's own;
// reached through SessionRuntime's internal accessor (src/internal.ts), never from the public API.
import type { Cell } from '../cell/cell.js';
import { CellJournal, type JournalMark, type JournalUpdate } from '../cell/journal.js';
import type { CellTool, ListedCalls } from '../cell/tool-calls.js';
import type { Program } from '../cell/cell-journaling.js';
import { CodeCellError } from '../errors.js';
import type { CellRunIsolate } from '../isolate/cell-isolate.js';
import type { CellMaker } from './cell-maker.js';
import type { SessionGate } from './session-gate.js';
import { assertWithinCaps, type CellLimits } from '../limits.js';
import { activeContext, startSpan, type TraceSpan } from '../tracing.js';
import type { CallOutcome, CellId } from '../types.js';
import { checkCallOutcome } from '../validate.js';
import {
  checkPausedCell,
  checkReplayableCell,
  replayStartOf,
  type MirroredStart,
  type RestoredCell,
} from './paused-cells.js';
import type { ReplayableCell } from './snapshot.js';

/** A running cell's journal as a host mirrors it: what it runs (the first time), what it consumed since. */
export interface CellJournalUpdate {
  /** Its tools and limits left out when they are the session's (its client has those). */
  start?: MirroredStart;
  update?: JournalUpdate;
}

/** How far a cell's journal was taken (undefined: not yet; null: it keeps none, nothing will come). */
export interface JournalTaken {
  mark: JournalMark | null | undefined;
}

/**
 * What the hosted cells need of their session (SessionRuntime gives it): how its cells are made
 * and configured (its CellMaker: a restored or replayed cell is made with a journal given), and
 * the rest below.
 */
export interface SessionParts extends Pick<CellMaker, 'checked' | 'sandboxConfig' | 'newCell'> {
  readonly caps: Partial<CellLimits> | undefined;
  /** The session's own tools and limits (a cell's start names them by reference). */
  readonly tools: readonly CellTool[];
  readonly limits: Readonly<CellLimits>;
  /** The id the session's next cell gets. */
  nextCellId(): number;
  /** Throws when the session is shutting down or being suspended. */
  assertOpen(): void;
  /** The session's one gate every cell comes in by. */
  readonly gate: SessionGate;
  /** The session's cell of this id (undefined: not open). */
  cell(cellId: CellId): Cell | undefined;
  /** The session's open cell of this id, or ERR_MISSING_CELL. */
  openCell(cellId: unknown): Cell;
}

/** What a restored or replayed cell holds while it waits with no isolate: its journal and what it runs. */
function heldBytes(code: string, journal: CellJournal): number {
  return journal.bytes + code.length;
}

export class HostedCells {
  readonly #session: SessionParts;
  /**
   * Set by a host that mirrors the cells' journals to its client (JournalMirror), before any runs:
   * the mirror carries no record of the sandbox's waits, so its cells never wait (ADR 23).
   */
  mirrored = false;

  constructor(session: SessionParts) {
    this.#session = session;
  }

  /** The session's own limits (a mirrored start leaves a cell's out when they are these). */
  get sessionLimits(): CellLimits {
    return { ...this.#session.limits };
  }

  /**
   * What a running cell consumed since `taken.mark` and, the first time, what it runs — the mark
   * moved past it; undefined when nothing. A host sends it to its client, which runs the cell
   * again on another host if this one is lost (replayCell); a session with a store writes it.
   */
  cellJournal(cellId: CellId, taken: JournalTaken): CellJournalUpdate | undefined {
    if (taken.mark === null) return undefined;
    const cell = this.#session.cell(cellId);
    const run = cell?.runState();
    let at = taken.mark;
    let start: MirroredStart | undefined;
    // The first time: a journal given to the cell (restored, replayed) is had up to there; one
    // begun here is taken from its start, with what the cell runs.
    if (cell !== undefined && run !== undefined && at === undefined) {
      at = run.given;
      start = at === undefined ? replayStartOf(cell, this.#session) : undefined;
      if (start !== undefined) at = CellJournal.start;
    }
    if (run === undefined || at === undefined) {
      // Not running here (not yet, or no more), or it keeps no journal: nothing will come.
      if (taken.mark === undefined) taken.mark = null;
      return undefined;
    }
    taken.mark = at;
    // Called for each message about a running cell: no part is made when nothing is new.
    const update = run.journal.since(at);
    if (start === undefined) return update === undefined ? undefined : { update };
    return update === undefined ? { start } : { start, update };
  }

  /**
   * A snapshot's paused cells (untrusted: each checked), as cells of this session waiting for
   * resumeCell — no more than it may hold, each id once.
   */
  restorePaused(saved: readonly unknown[], maxCellsPerSession: number): void {
    const refuse = (why: string): never => {
      throw new CodeCellError('ERR_INVALID_REQUEST', `cannot resume the session: ${why}`);
    };
    if (saved.length > maxCellsPerSession)
      refuse(`it has ${saved.length} paused cells, over its maxCellsPerSession (${maxCellsPerSession})`);
    const ids = new Set<CellId>();
    for (const [index, each] of saved.entries()) {
      const cell = checkPausedCell(each, index, this.#session.nextCellId());
      if (ids.has(cell.event.cellId)) refuse(`snapshot.pausedCells holds cell ${cell.event.cellId} twice`);
      ids.add(cell.event.cellId);
      this.#restore(cell);
    }
  }

  /** A paused cell of a snapshot, as a cell of this session waiting for resumeCell. */
  #restore(restored: RestoredCell): void {
    const { event, limits, code, filename, storedValues, journal, held, queued } = restored;
    assertWithinCaps(limits, this.#session.caps, 'snapshot.pausedCells[].limits');
    this.#session.gate.check(code, limits);
    this.#session.gate.assertRoomForBytes(heldBytes(code, journal));
    const tools = this.#session.checked(restored.tools);
    const config = this.#session.sandboxConfig(tools, limits, storedValues);
    this.#session.gate
      .enlist(event.cellId, (isolate) =>
        this.#session.newCell(isolate, event.cellId, restored.toolCallId, tools, limits, journal),
      )
      .restorePaused({ program: { source: code, filename, config }, event, held }, [], queued);
  }

  /**
   * Runs a cell lost with its host again here, from its journal as its client kept it (SPEC §13):
   * recorded outcomes go in without a delegate call, the calls still in flight there wait for
   * settleCall, then the cell goes on live. Resolves once it runs (observe it as any cell); a
   * paused one waits here, paused, for resumeCell.
   */
  async replayCell(saved: ReplayableCell): Promise<void> {
    const parent = activeContext();
    this.#session.assertOpen();
    const checked = checkReplayableCell(saved, this.#session.nextCellId());
    const { cellId, limits } = checked;
    if (this.#session.cell(cellId) !== undefined)
      throw new CodeCellError('ERR_INVALID_REQUEST', `cannot replay the cell: cell ${cellId} is still here`);
    assertWithinCaps(limits, this.#session.caps, 'cell.limits');
    this.#session.gate.check(checked.code, limits);
    const tools = this.#session.checked(checked.tools);
    const config = this.#session.sandboxConfig(tools, limits, checked.storedValues);
    const program: Program = { source: checked.code, filename: checked.filename, config };
    const make = (isolate: CellRunIsolate, span?: TraceSpan): Cell =>
      this.#session.newCell(isolate, cellId, checked.toolCallId, tools, limits, checked.journal, span);
    if (checked.paused !== undefined) {
      // It was paused: it waits here as it did there, with no isolate, for resumeCell.
      this.#session.gate.assertRoomForBytes(heldBytes(checked.code, checked.journal));
      const outstanding = checked.outstanding.filter((callId) => callId !== checked.paused?.callId);
      this.#session.gate
        .enlist(cellId, (isolate) => make(isolate))
        .restorePaused({ program, event: checked.paused, held: checked.held }, outstanding, checked.queued);
      return;
    }
    const span = startSpan('codecell.cell', { 'codecell.cell.id': cellId, 'codecell.cell.replayed': true }, parent);
    await this.#session.gate.admit(
      cellId,
      limits,
      span,
      (isolate) => make(isolate, span),
      (cell) => cell.rerun(program, checked.outstanding, checked.queued, checked.approved),
    );
  }

  /**
   * A cell its agent process lost that cannot run again (SPEC §16): it ends here, terminated
   * `agentLost`, listing `calls` — its observer gets that event as any cell's end.
   */
  loseCell(cellId: CellId, calls: ListedCalls, detail: string): void {
    const limits = this.#session.limits;
    this.#session.gate
      .enlist(cellId, (isolate) =>
        this.#session.newCell(isolate, cellId, `lost-${cellId}`, [], limits, new CellJournal(0)),
      )
      .lose(calls, detail);
  }

  /** The outcome of a replayed cell's call that was still in flight on its lost host (replayCell). */
  settleCall(cellId: CellId, callId: string, answer: CallOutcome): void {
    const cell = this.#session.openCell(cellId);
    if (typeof callId !== 'string') throw new CodeCellError('ERR_INVALID_REQUEST', 'callId must be a string');
    cell.answerCall(callId, checkCallOutcome(answer));
  }
}
