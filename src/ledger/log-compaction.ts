// What a compaction keeps of a session's log (SPEC §16, ADR 21): the records of the cells still
// open, every session record and attachment to a host, the stored values' commits — each run of
// them with no other record kept between merged into one that stands for as many — each end an
// answer handed out that the stream has not told yet, the stream's newest events and every event
// of an open cell that may run again. An open cell that can never run again (its journal passed
// its bound, or it keeps none) keeps only what its loss report needs: its newest calls (at most
// MAX_RECORDED_CALLS, the oldest answered ones dropped and counted) as records made anew.
import { idempotencyKey } from '../cell/tool-calls.js';
import { KEPT_SESSION_EVENTS } from '../streams/session-cursor.js';
import type { CellId } from '../types.js';
import type { LogRecord } from './log-record.js';
import { readLog } from './log-records.js';

export function compactLog(texts: readonly string[], open: ReadonlySet<CellId>): string[] {
  const kept: string[] = [];
  // The stream's newest events are kept, and every event of an open cell.
  let events = 0;
  const told = new Set<CellId>();
  // Open cells whose journal was lost, or that keep none: they cannot run again.
  const started = new Set<CellId>();
  const lost = new Set<CellId>();
  for (const text of texts) {
    if (text.startsWith('{"t":"event"')) {
      events++;
      if (!text.includes('"type":"closed"')) continue;
      const { event } = JSON.parse(text) as Extract<LogRecord, { t: 'event' }>;
      if (event.type === 'closed') told.add(event.cellId);
    } else if (text.startsWith('{"t":"journal"')) {
      const { cellId, start, update } = JSON.parse(text) as Extract<LogRecord, { t: 'journal' }>;
      if (start !== undefined) started.add(cellId);
      if (update?.lost === true) lost.add(cellId);
    } else if (text.startsWith('{"t":"lost"')) lost.add((JSON.parse(text) as { cellId: CellId }).cellId);
  }
  const summaries = lostCells(texts, open, started, lost);
  let merged: { values: Record<string, string>; commits: number } | undefined;
  const flush = (): void => {
    if (merged !== undefined) kept.push(JSON.stringify({ t: 'stored', ...merged } satisfies LogRecord));
    merged = undefined;
  };
  for (const text of texts) {
    const record = JSON.parse(text) as LogRecord;
    if (record.t === 'stored') {
      merged ??= { values: {}, commits: 0 };
      Object.assign(merged.values, record.values);
      merged.commits += record.commits ?? 1;
      continue;
    }
    if (record.t === 'event') {
      const cellId = 'cellId' in record.event ? record.event.cellId : '';
      const summarized = summaries.has(cellId) && record.event.type !== 'admitted';
      if (summarized || (events-- > KEPT_SESSION_EVENTS && !open.has(cellId))) continue;
    } else if (record.t === 'end') {
      if (!open.has(record.cellId) && (record.event === undefined || told.has(record.cellId))) continue;
    } else if (record.t !== 'session' && record.t !== 'attached') {
      if (!open.has(record.cellId)) continue;
      const summary = summaries.get(record.cellId);
      if (summary !== undefined) {
        // In place of its first record, the cell's records made anew; the others go.
        flush();
        for (const made of summary.splice(0)) kept.push(made);
        continue;
      }
    }
    flush();
    kept.push(text);
  }
  flush();
  return kept;
}

/**
 * The records made anew of each open cell that cannot run again, read back from the log: its
 * admission, why it is lost and how many of its calls were dropped, then each call it lists —
 * started, and its outcome (without its payload: a loss report lists only whether it returned).
 */
function lostCells(
  texts: readonly string[],
  open: ReadonlySet<CellId>,
  started: ReadonlySet<CellId>,
  lost: ReadonlySet<CellId>,
): Map<CellId, string[]> {
  const summaries = new Map<CellId, string[]>();
  const candidates = [...open].filter((cellId) => lost.has(cellId) || !started.has(cellId));
  if (candidates.length === 0) return summaries;
  const read = readLog(texts);
  const sessionKey = read.options.key ?? '';
  for (const cellId of candidates) {
    const ledger = read.ledger.cell(cellId);
    const why = ledger?.unreplayable;
    // A cell whose journal's start is yet to come (a host's admission before it) is left as it is.
    if (ledger === undefined || why === undefined || (!lost.has(cellId) && !ledger.keepsNoJournal)) continue;
    const { toolCalls, toolCallsDropped = 0 } = ledger.lost(false);
    const records: LogRecord[] = [
      { t: 'admitted', cellId },
      { t: 'lost', cellId, why, dropped: toolCallsDropped },
    ];
    for (const { callId, tool, input, outcome } of toolCalls) {
      const key = idempotencyKey(sessionKey, cellId, callId);
      records.push({ t: 'started', cellId, callId, tool, input, idempotencyKey: key });
      if (outcome === 'returned' || outcome === 'threw')
        records.push({ t: 'outcome', cellId, callId, ok: outcome === 'returned', payload: '', errorKind: '' });
    }
    summaries.set(
      cellId,
      records.map((record) => JSON.stringify(record)),
    );
  }
  return summaries;
}
