// What a remote session keeps on the client so that it can be rebuilt on another host (SPEC §13):
// its stored values as of the last commit (the host sends each commit: session/stored), the
// highest cell id it has seen (ids continue on the next host, never reused), and each open cell's
// tool calls with whether the delegate had answered — what a cell lost with its host reports.
import type { CellId, JsonValue, NestedToolCall, ToolCallRecord } from '../../src/index.js';
import { byteLength } from '../../src/internal.js';

/** How many tool calls a cell's record lists; past it the oldest answered ones are counted, not listed. */
export const MAX_RECORDED_CALLS = 1_000;

/**
 * A cell's tool calls in the order they came, from `head` on (those before it were dropped:
 * answered ones, oldest first, counted in `dropped`).
 */
interface CellCalls {
  readonly calls: ToolCallRecord[];
  head: number;
  dropped: number;
}

export class SessionRecord {
  /** The stored values (JSON texts by key) as of the last commit the host reported. */
  readonly #stored = new Map<string, string>();
  #storedBytes = 0;
  readonly #maxStoredBytes: number;
  /** A commit past maxStoredBytes reached the client (a host that broke its bound): not trusted. */
  #broken = false;
  #lastCellId = 0;
  readonly #cells = new Map<CellId, CellCalls>();
  /** Cells admitted on the host and not closed there yet. */
  readonly #running = new Set<CellId>();
  /** Cells whose cell/closed came before the client learned of their admission (a fast cell). */
  readonly #closedEarly = new Set<CellId>();

  constructor(maxStoredBytes: number, restored?: { storedValues: Record<string, string>; nextCellId: number }) {
    this.#maxStoredBytes = maxStoredBytes;
    if (restored !== undefined) {
      this.committed(restored.storedValues);
      this.#lastCellId = restored.nextCellId - 1;
    }
  }

  /** Whether the session can be rebuilt from this record (its stored values are whole). */
  get whole(): boolean {
    return !this.#broken;
  }

  /** A commit of the session's stored values (session/stored): the keys written, as JSON texts. */
  committed(values: Record<string, string>): void {
    for (const [key, json] of Object.entries(values)) {
      const before = this.#stored.get(key);
      this.#storedBytes +=
        byteLength(key) + byteLength(json) - (before === undefined ? 0 : byteLength(key) + byteLength(before));
      this.#stored.set(key, json);
    }
    if (this.#storedBytes > this.#maxStoredBytes) {
      this.#broken = true;
      this.#stored.clear();
    }
  }

  /** How many of its cells run on the host (admitted, not closed): a hand-off waits for none. */
  get running(): number {
    return this.#running.size;
  }

  /** The host admitted the cell. */
  admitted(cellId: CellId): void {
    this.cellSeen(cellId);
    if (!this.#closedEarly.delete(cellId)) this.#running.add(cellId);
  }

  /** A cell id of the session (admitted, or named by a call): the next host continues after it. */
  cellSeen(cellId: CellId): void {
    const id = Number(cellId);
    if (Number.isSafeInteger(id) && id > this.#lastCellId) this.#lastCellId = id;
  }

  /**
   * A tool call the delegate is about to serve: its record, whose `outcome` the caller sets once
   * the delegate returned or threw.
   */
  toolCall(call: NestedToolCall): ToolCallRecord {
    this.cellSeen(call.cellId);
    let cell = this.#cells.get(call.cellId);
    if (cell === undefined) this.#cells.set(call.cellId, (cell = { calls: [], head: 0, dropped: 0 }));
    const record: ToolCallRecord = {
      callId: call.callId,
      tool: call.tool.namespace === undefined ? { name: call.tool.name } : { ...call.tool },
      input: call.input as JsonValue | undefined,
      outcome: 'pending',
    };
    cell.calls.push(record);
    if (cell.calls.length - cell.head > MAX_RECORDED_CALLS) dropOldestAnswered(cell);
    return record;
  }

  /** The cell closed on its host: its calls need no record any more. */
  cellClosed(cellId: CellId): void {
    this.#cells.delete(cellId);
    if (!this.#running.delete(cellId)) {
      this.#closedEarly.add(cellId);
      if (this.#closedEarly.size > 64) this.#closedEarly.delete(this.#closedEarly.values().next().value as CellId);
    }
  }

  /** The cell was lost with its host: its calls as they stand now (later answers change nothing). */
  lost(cellId: CellId): { toolCalls: ToolCallRecord[]; toolCallsDropped?: number } {
    const cell = this.#cells.get(cellId);
    this.#cells.delete(cellId);
    this.#running.delete(cellId);
    if (cell === undefined) return { toolCalls: [] };
    const toolCalls = cell.calls.slice(cell.head).map((record) => ({ ...record }));
    return cell.dropped === 0 ? { toolCalls } : { toolCalls, toolCallsDropped: cell.dropped };
  }

  /** What session/create's `restore` takes to rebuild the session. */
  restore(): { storedValues: Record<string, string>; nextCellId: number } {
    return { storedValues: Object.fromEntries(this.#stored), nextCellId: this.#lastCellId + 1 };
  }
}

/** Drops the cell's oldest answered call from its record (none while every call waits). */
function dropOldestAnswered(cell: CellCalls): void {
  const { calls } = cell;
  if (calls[cell.head]?.outcome !== 'pending') cell.head++;
  else {
    // The oldest waits still (a slow call among fast ones): the oldest answered one after it goes.
    const answered = calls.findIndex((each, index) => index > cell.head && each.outcome !== 'pending');
    if (answered < 0) return;
    calls.splice(answered, 1);
  }
  cell.dropped++;
  // The dropped front is let go in one piece now and then, not one by one.
  if (cell.head >= MAX_RECORDED_CALLS) {
    calls.splice(0, cell.head);
    cell.head = 0;
  }
}
