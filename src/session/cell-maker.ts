// How a SessionRuntime makes its cells, executed or hosted (restored, replayed) alike: each with
// the session's delegate, deadline, logger and store; its events to the session's streams and
// observer; its life (committed, paused, closed) to the session's cells and gate — and, with a
// store, to its log. Also what a cell is configured with: its tools' input checks, and the
// sandbox's data (tools, stored values, limits).
import { Cell } from '../cell/cell.js';
import type { Deterministic } from '../cell/delivery-order.js';
import type { CellJournal } from '../cell/journal.js';
import type { CellTool, WriteAhead } from '../cell/tool-calls.js';
import type { CellRunIsolate } from '../isolate/cell-isolate.js';
import { assertWithinCaps, mergeLimits, type CellLimits } from '../limits.js';
import type { Program } from '../cell/cell-journaling.js';
import type { checkExecuteRequest } from '../validate.js';
import type { CellStreams } from '../streams/cell-streams.js';
import type { ToolInputChecks } from '../tools/tool-input.js';
import type { TraceSpan } from '../tracing.js';
import type { CellEvent, CellId, Logger, SessionCellEvent, SessionRuntimeDelegate } from '../types.js';
import { storedBytesOf } from './paused-cells.js';
import type { SessionCells } from './session-cells.js';
import type { SessionGate } from './session-gate.js';
import { prepareSource, sandboxConfig } from './source.js';

type CheckedRequest = ReturnType<typeof checkExecuteRequest>;
import type { StoredValues } from './stored-values.js';

/** What a session with a store records of its cells' lives besides their calls. */
export interface CellLog {
  paused(cellId: CellId, event: CellEvent | null, seen?: number): void;
  /** The cell's outcome is committed as `event` (its journal whole). */
  ends(cellId: CellId, event: CellEvent): void;
  /** The cell closed. */
  ended(cellId: CellId): void;
}

/** What a session's cells are made with. */
export interface CellMakerParts {
  readonly key: string;
  readonly delegate: SessionRuntimeDelegate;
  /** With a store: what the cells write ahead, and their pauses and ends (SessionRecords). */
  readonly durable: (WriteAhead & CellLog) | undefined;
  readonly deadlineMs: number;
  readonly deterministic: Deterministic | undefined;
  readonly logger: Logger;
  readonly storedValues: StoredValues | undefined;
  readonly observer: ((event: SessionCellEvent) => void) | undefined;
  readonly streams: CellStreams;
  readonly cells: SessionCells;
  readonly gate: SessionGate;
  /** Its tools' input checks, compiled for this session alone. */
  readonly inputChecks: ToolInputChecks;
  /** True once a host mirrors its cells' journals to its client (HostedCells#mirrored). */
  readonly mirrored: () => boolean;
}

export class CellMaker {
  readonly #parts: CellMakerParts;

  constructor(parts: CellMakerParts) {
    this.#parts = parts;
  }

  /**
   * What an executed cell runs, checked against the session's limits and caps: its limits (the
   * session's, with the request's over them), tools, and its program (its source made ready,
   * its configuration as data, the commit of stored values it sees) or why its source fails it.
   */
  prepare(
    request: CheckedRequest,
    tools: CellTool[],
    limits: CellLimits,
    caps: Partial<CellLimits> | undefined,
  ): { limits: CellLimits; tools: CellTool[]; program: Program | { error: string } } {
    const merged = mergeLimits(limits, request.limits);
    assertWithinCaps(merged, caps, 'request.limits');
    this.#parts.gate.check(request.source, merged);
    const own = request.tools === undefined ? tools : this.checked(request.tools);
    const prepared = prepareSource(request.source, request.language, request.filename);
    if (prepared.error !== undefined) return { limits: merged, tools: own, program: { error: prepared.error } };
    const config = this.sandboxConfig(own, merged);
    const storedAt = this.#parts.storedValues === undefined ? null : this.#parts.storedValues.commits;
    const program = { source: prepared.code as string, filename: prepared.filename as string, config, storedAt };
    return { limits: merged, tools: own, program };
  }

  /** The tools with their input checks. */
  checked(tools: CellTool[]): CellTool[] {
    return tools.map((tool) => ({ ...tool, check: this.#parts.inputChecks.checkOf(tool.definition, tool.id) }));
  }

  /**
   * The configuration the sandbox is given as data (tools, stored values, limits): the session's
   * stored values now, or those a paused cell started with.
   */
  sandboxConfig(tools: readonly CellTool[], limits: CellLimits, values?: Record<string, string> | null): string {
    const stored = this.#parts.storedValues;
    const given = values === undefined ? undefined : { stored: values ?? {}, storedBytes: storedBytesOf(values ?? {}) };
    return sandboxConfig(tools, limits, stored === undefined ? undefined : (given ?? stored.snapshot()));
  }

  newCell(
    isolate: CellRunIsolate,
    cellId: CellId,
    toolCallId: string,
    tools: readonly CellTool[],
    limits: CellLimits,
    journal?: CellJournal,
    span?: TraceSpan,
  ): Cell {
    const { key, delegate, durable, deadlineMs, logger, storedValues, observer, streams, cells, gate } = this.#parts;
    const { deterministic, mirrored } = this.#parts;
    const cell: Cell = new Cell(isolate, {
      id: cellId,
      sessionKey: key,
      toolCallId,
      tools,
      limits,
      span,
      ...(journal === undefined ? {} : { journal }),
      delegate,
      writeAhead: durable,
      deterministic,
      mirrored,
      callbackAbortDeadlineMs: deadlineMs,
      logger,
      commitStore: (writes) => storedValues?.commit(writes, limits.maxStoredBytes),
      emit: (event, size) => {
        observer?.({ cellId, ...event });
        streams.emit(cellId, event, size);
      },
      ...(durable === undefined ? {} : { onEnd: (event: CellEvent) => durable.ends(cellId, event) }),
      onCommit: (unread) => cells.committed(cell, unread),
      onPause: (paused) => {
        cells.paused(cell, paused);
        gate.paused(cell, paused);
        durable?.paused(cellId, paused ? (cell.pausedState()?.event ?? null) : null, cell.outputsMade);
      },
      onTaken: () => cells.taken(cell),
      onClosed: () => {
        cells.closed(cell);
        gate.paused(cell, false);
        durable?.ended(cellId);
      },
    });
    return cell;
  }
}
