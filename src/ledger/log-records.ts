// The records a session with a store writes (SPEC §16, ADR 21) — an in-process session from its
// cells (session-records.ts), a remote one from its ledger as it learns (session-ledger.ts) —
// and how they are read back: into the session's ledger, which makes of them what a recovery
// runs — stored values, cell ids, each open cell as it runs again. A record is one JSON text;
// the store keeps them in order and knows nothing of what they say.
import { mergeLimits, DEFAULT_LIMITS, type CellLimits } from '../limits.js';
import { BrokeBound } from './ledger-parts.js';
import type { LogRecord } from './log-record.js';
import { ledgerFigures, SessionLedger } from './session-ledger.js';
import type { CellEvent, CellId, JsonValue, SessionStreamEvent } from '../types.js';
import {
  KEPT_SESSION_EVENTS,
  noneTold,
  tell,
  type SessionCursorOptions,
  type Told,
} from '../streams/session-cursor.js';
import type { SessionSnapshot } from '../cell/snapshots.js';

export type { LogRecord } from './log-record.js';

/** What a session's log says: how it was created, and its ledger as of the last record. */
export interface ReadLog {
  options: SessionSnapshot['options'];
  ledger: SessionLedger;
  /** The session's limits (its own over codecell's defaults). */
  limits: CellLimits;
  /** The newest events of its stream, oldest first (a recovered session's stream goes on after them). */
  events: SessionStreamEvent[];
  /** What its stream told of each open cell, that a replay may produce again. */
  told: Map<CellId, Told>;
  /** The cells whose admission its stream told, and not their end. */
  announced: Set<CellId>;
  /** Ends an answer handed out that its stream never told (`closed`): told first when it goes on. */
  ends: Map<CellId, CellEvent>;
  /** How many records the log holds. */
  records: number;
}

/**
 * Where a session's stream is written (`write`), whether its lease still holds (`confirm`,
 * SessionLog's), and what its log (`read`, when recovered) says of it.
 */
export function cursorAfter(
  read: ReadLog | undefined,
  write: (event: SessionStreamEvent) => Promise<void>,
  confirm: () => Promise<Error | undefined>,
): SessionCursorOptions {
  if (read === undefined) return { write, confirm };
  return { write, confirm, kept: read.events, open: read.announced, told: read.told, ends: read.ends };
}

/** Reads a session's records into its ledger; BrokeBound for a log this codecell cannot read. */
export function readLog(texts: readonly string[]): ReadLog {
  let read: ReadLog | undefined;
  // The cells whose end the stream told (an end handed out after that is not told again).
  const closed = new Set<CellId>();
  for (const [index, text] of texts.entries()) {
    let record: LogRecord;
    try {
      record = JSON.parse(text) as LogRecord;
    } catch {
      throw new BrokeBound(`record ${index} is not JSON`);
    }
    if (record.t === 'session') {
      if (read === undefined) {
        const limits = mergeLimits(DEFAULT_LIMITS, record.options.limits ?? {});
        const ledger = new SessionLedger(ledgerFigures(limits), undefined, record.options.tools ?? []);
        const records = texts.length;
        const [told, announced, ends] = [new Map(), new Set<CellId>(), new Map()];
        read = { options: record.options, ledger, limits, events: [], told, announced, ends, records };
      }
      read.ledger.attached(read.limits);
      continue;
    }
    if (read === undefined) throw new BrokeBound('the log does not begin with its session');
    // Every record that names a cell keeps its id taken: of the newest cell, a compaction may
    // leave only its end or its stream's events, and the next cell must not get its id again.
    const named = cellOf(record.t === 'event' ? record.event : record);
    if (named !== undefined) read.ledger.cellSeen(named);
    if (record.t === 'event') heard(read, record.event, closed);
    else apply(read.ledger, record, index, read.limits);
    if (record.t === 'end') {
      if (record.event !== undefined && !closed.has(record.cellId)) read.ends.set(record.cellId, record.event);
      read.announced.delete(record.cellId);
      read.told.delete(record.cellId);
    }
  }
  if (read === undefined) throw new BrokeBound('the log is empty');
  for (const cellId of read.ledger.cellIds) read.ledger.cell(cellId)?.readBack();
  // A cell admitted with nothing else of it written: it ends as one that cannot run again.
  for (const cellId of read.announced) if (read.ledger.cell(cellId) === undefined) read.ledger.admitted(cellId);
  // A replay sends no notification its delegate got: those the stream told past them are sent again.
  for (const [cellId, told] of read.told)
    told.notifications = Math.max(0, told.notifications - (read.ledger.cell(cellId)?.notifications ?? 0));
  read.events.splice(0, read.events.length - KEPT_SESSION_EVENTS);
  return read;
}

/** The cell a record or event names (undefined for the session's own). */
function cellOf(record: LogRecord | SessionStreamEvent): CellId | undefined {
  return 'cellId' in record ? record.cellId : undefined;
}

/** An event the session's stream handed out: kept, and a cell's admission or end noted. */
function heard(read: ReadLog, event: SessionStreamEvent, closed: Set<CellId>): void {
  read.events.push(event);
  if (!('cellId' in event) || event.cellId === '') return;
  if (event.type === 'admitted') return void read.announced.add(event.cellId);
  if (event.type === 'closed') {
    closed.add(event.cellId);
    read.ends.delete(event.cellId);
    read.announced.delete(event.cellId);
    read.told.delete(event.cellId);
    read.ledger.drop(event.cellId);
    return;
  }
  let told = read.told.get(event.cellId);
  if (told === undefined) read.told.set(event.cellId, (told = noneTold()));
  if (event.type === 'output') told.outputs++;
  else if (event.type === 'notification') told.notifications++;
  else if (event.type === 'toolCall' || event.type === 'toolResult') tell(told, event.type, event.callId);
}

function apply(ledger: SessionLedger, record: LogRecord, index: number, limits: CellLimits): void {
  switch (record.t) {
    case 'attached':
      return ledger.attached(record.limits ?? limits);
    case 'admitted':
      return ledger.admitted(record.cellId, record.limits);
    case 'notified':
      return ledger.notified(record.cellId);
    case 'journal':
      // A part of a cell whose earlier records a compaction dropped (its end was read): nothing to keep.
      if (record.start === undefined && ledger.cell(record.cellId) === undefined) return;
      if (record.start !== undefined) ledger.admitted(record.cellId, record.start.limits);
      ledger.journaled(record.cellId, record.start, record.update);
      if (record.update?.notifications !== undefined)
        ledger.cell(record.cellId)?.notificationsSent(record.update.notifications);
      return;
    case 'started': {
      const { t: _, ...call } = record;
      ledger.served({ ...call, kind: 'function' });
      return;
    }
    case 'outcome': {
      const { cellId, callId, ok, payload } = record;
      ledger.settled(cellId, callId, ok ? 'returned' : 'threw');
      const answer = ok
        ? { result: payload === '' ? undefined : (JSON.parse(payload) as JsonValue) }
        : { error: payload };
      ledger.answered(cellId, callId, answer, payload.length, ok ? payload : undefined);
      return;
    }
    case 'pause':
      return ledger.interrupted(record.cellId, record.callId, JSON.stringify(record.payload));
    case 'paused':
      ledger.observed(record.cellId, record.event ?? { kind: 'yielded', cellId: record.cellId, items: [] });
      if (record.seen !== undefined) ledger.cell(record.cellId)?.seenUpTo(record.seen);
      return;
    case 'lost':
      return ledger.cell(record.cellId)?.lostBefore(record.why, record.dropped);
    case 'replayed':
      ledger.replaying(record.cellId, () => {}, record.again);
      return ledger.cell(record.cellId)?.detached();
    case 'stored':
      for (let commit = 0; commit < (record.commits ?? 1); commit++)
        ledger.committed(commit === 0 ? record.values : {});
      return;
    case 'end':
      return ledger.drop(record.cellId);
    default:
      throw new BrokeBound(`record ${index} is of a kind this codecell does not know`);
  }
}
