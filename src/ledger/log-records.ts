// The records a session with a store writes (SPEC §16, ADR 21) — an in-process session from its
// cells (session-durability.ts), a remote one from its ledger as it learns (session-ledger.ts) —
// and how they are read back: into the session's ledger, which makes of them what a recovery
// runs — stored values, cell ids, each open cell as it runs again. A record is one JSON text;
// the store keeps them in order and knows nothing of what they say.
import { mergeLimits, DEFAULT_LIMITS, type CellLimits } from '../limits.js';
import { BrokeBound } from './ledger-parts.js';
import type { LogRecord } from './log-record.js';
import { ledgerFigures, SessionLedger } from './session-ledger.js';
import type { CellId, JsonValue } from '../types.js';
import type { SessionSnapshot } from '../session/snapshot.js';

export type { LogRecord } from './log-record.js';

/** What a session's log says: how it was created, and its ledger as of the last record. */
export interface ReadLog {
  options: SessionSnapshot['options'];
  ledger: SessionLedger;
  /** The session's limits (its own over codecell's defaults). */
  limits: CellLimits;
}

/** Reads a session's records into its ledger; BrokeBound for a log this codecell cannot read. */
export function readLog(texts: readonly string[]): ReadLog {
  let read: ReadLog | undefined;
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
        read = { options: record.options, ledger, limits };
      }
      read.ledger.attached(read.limits);
      continue;
    }
    if (read === undefined) throw new BrokeBound('the log does not begin with its session');
    apply(read.ledger, record, index, read.limits);
  }
  if (read === undefined) throw new BrokeBound('the log is empty');
  return read;
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
      if (record.start !== undefined) ledger.admitted(record.cellId, record.start.limits);
      ledger.journaled(record.cellId, record.start, record.update);
      if (record.update?.notifications !== undefined)
        ledger.cell(record.cellId)?.notificationsSent(record.update.notifications);
      return;
    case 'started': {
      const { t: _, ...call } = record;
      ledger.cellSeen(call.cellId);
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
      return ledger.observed(record.cellId, record.event ?? { kind: 'yielded', cellId: record.cellId, items: [] });
    case 'replayed':
      ledger.replaying(record.cellId, () => {});
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

/**
 * What a compaction keeps of a log: the records of the cells still open, every session record and
 * attachment to a host, and the stored values' commits — each run of them with no other record
 * kept between merged into one that stands for as many.
 */
export function compactLog(texts: readonly string[], open: ReadonlySet<CellId>): string[] {
  const kept: string[] = [];
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
    if (record.t !== 'session' && record.t !== 'attached' && !open.has(record.cellId)) continue;
    flush();
    kept.push(text);
  }
  flush();
  return kept;
}
