// A session's cells paused by a CellInterrupt, into a snapshot and out of one (SPEC §13): what a
// paused cell runs, with which tools, limits and stored values, its journal, the outcomes held
// for it and its interrupted event. A snapshot is untrusted input: every field is checked.
import type { Cell } from '../cell/cell.js';
import { CellJournal, checkDelivery, type JournalDelivery } from '../cell/journal.js';
import { invalidRequest, messageOf } from '../errors.js';
import { byteLength } from '../json.js';
import { checkLimits, DEFAULT_LIMITS, mergeLimits, type CellLimits } from '../limits.js';
import type { CellTool } from '../cell/tool-calls.js';
import type { CellEvent, ToolDefinition } from '../types.js';
import { checkTools } from '../validate.js';
import type { PausedCellSnapshot } from './snapshot.js';

type Interrupted = Extract<CellEvent, { kind: 'interrupted' }>;

/** A paused cell as a snapshot holds it (undefined when the cell is not paused). */
export function snapshotPausedCell(cell: Cell): PausedCellSnapshot | undefined {
  const paused = cell.pausedState();
  if (paused === undefined || paused.event.kind !== 'interrupted') return undefined;
  const { toolCallId, tools, limits } = paused;
  const { stored } = JSON.parse(paused.program.config) as { stored: Record<string, string> | null };
  return {
    code: paused.program.source,
    filename: paused.program.filename,
    toolCallId,
    tools: tools.map((tool) => JSON.parse(JSON.stringify(tool.definition)) as ToolDefinition),
    limits: { ...limits },
    storedValues: stored,
    journal: paused.journal.toJSON(),
    held: paused.held,
    event: JSON.parse(JSON.stringify(paused.event)) as Interrupted,
  };
}

/** A paused cell from a snapshot, checked, ready to be made a Cell of the resumed session. */
export interface RestoredCell {
  code: string;
  filename: string;
  toolCallId: string;
  tools: CellTool[];
  limits: CellLimits;
  storedValues: Record<string, string> | null;
  journal: CellJournal;
  held: JournalDelivery[];
  event: Interrupted;
}

/** Checks `pausedCells[index]` of a snapshot whose next cell id is `nextCellId`: ERR_INVALID_REQUEST saying why. */
export function checkPausedCell(value: unknown, index: number, nextCellId: number): RestoredCell {
  const where = `snapshot.pausedCells[${index}]`;
  const bad = (why: string): never => {
    throw invalidRequest(`cannot resume the session: ${where}${why}`);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return bad(' must be an object');
  const saved = value as Record<string, unknown>;
  const { code, filename, toolCallId, storedValues, event } = saved;
  if (typeof code !== 'string' || typeof filename !== 'string' || typeof toolCallId !== 'string')
    return bad(' needs the code, filename and toolCallId texts it ran with');
  const limits = mergeLimits(DEFAULT_LIMITS, checkLimits(saved.limits, `${where}.limits`));
  if (byteLength(code) > limits.maxSourceBytes) bad('.code is over its maxSourceBytes limit');
  const tools = checkTools(saved.tools, `${where}.tools`);
  if (storedValues !== null && !isTextRecord(storedValues))
    bad('.storedValues must be null or an object of JSON texts');
  if (storedValues !== null && storedBytesOf(storedValues as Record<string, string>) > limits.maxStoredBytes)
    bad('.storedValues are over its maxStoredBytes limit');
  let journal: CellJournal;
  let held: JournalDelivery[];
  try {
    journal = CellJournal.restore(saved.journal, limits.journalMaxBytes);
    if (!Array.isArray(saved.held)) throw new Error('held must be an array');
    held = saved.held.map(checkDelivery);
  } catch (error) {
    return bad(`: ${messageOf(error)}`);
  }
  const paused = checkEvent(event, journal, nextCellId);
  if (paused === undefined)
    return bad('.event must be the interrupted event of a call its journal holds, still pending');
  return {
    code,
    filename,
    toolCallId,
    tools,
    limits,
    storedValues: storedValues as Record<string, string> | null,
    journal,
    held,
    event: paused,
  };
}

function isTextRecord(value: unknown): value is Record<string, string> {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.values(value).every((text) => typeof text === 'string' && isJson(text))
  );
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function checkEvent(value: unknown, journal: CellJournal, nextCellId: number): Interrupted | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const event = value as Interrupted;
  const paused = typeof event.callId === 'string' && journal.call(event.callId) !== undefined;
  const cellNumber = Number(event.cellId);
  const valid =
    event.kind === 'interrupted' &&
    typeof event.cellId === 'string' &&
    /^[1-9]\d*$/.test(event.cellId) &&
    cellNumber < nextCellId &&
    Array.isArray(event.items) &&
    event.items.every(isOutputItem) &&
    paused &&
    journal.outcomeOf(event.callId) === 'pending';
  return valid ? event : undefined;
}

function isOutputItem(item: unknown): boolean {
  if (item === null || typeof item !== 'object') return false;
  const { type, text, imageUrl, detail } = item as Record<string, unknown>;
  return type === 'text'
    ? typeof text === 'string'
    : type === 'image' && typeof imageUrl === 'string' && typeof detail === 'string';
}

/** UTF-8 bytes of stored values as a session counts them (keys and JSON texts). */
export function storedBytesOf(values: Record<string, string>): number {
  let bytes = 0;
  for (const [key, json] of Object.entries(values)) bytes += byteLength(key) + byteLength(json);
  return bytes;
}
