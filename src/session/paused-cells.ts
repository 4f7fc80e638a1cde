// A session's cells paused by a CellInterrupt, into a snapshot and out of one (SPEC §13): what a
// paused cell runs, with which tools, limits and stored values, its journal, the outcomes held
// for it and its interrupted event. A snapshot is untrusted input: every field is checked.
import type { Cell, QueuedPause } from '../cell/cell.js';
import { CellJournal, type JournalDelivery } from '../cell/journal.js';
import { checkDelivery } from '../cell/journal-checks.js';
import { invalidRequest, messageOf } from '../errors.js';
import { byteLength } from '../json.js';
import { checkLimits, DEFAULT_LIMITS, LIMIT_NAMES, mergeLimits, type CellLimits } from '../limits.js';
import { MAX_OUTSTANDING_TOOL_CALLS, type CellTool } from '../cell/tool-calls.js';
import type { CellEvent, ToolDefinition } from '../types.js';
import { checkTools } from '../validate.js';
import type { PausedCellSnapshot, ReplayStart } from './snapshot.js';

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
    ...(paused.queued.length === 0 ? {} : { queued: paused.queued.map((each) => ({ ...each })) }),
  };
}

/** A cell's start as its host mirrors it: its tools and limits left out when they are its session's. */
export type MirroredStart = Omit<ReplayStart, 'tools' | 'limits'> & Partial<Pick<ReplayStart, 'tools' | 'limits'>>;

/**
 * What a host's client keeps of a running cell first (SessionRuntime#cellJournal): what it runs,
 * with which tools and limits — by reference when they are the session's (`session`: its own;
 * the client has them) —, the commit of the stored values it started with, and its journal's
 * seed. Undefined for a cell the client sent (restored or replayed): it has all that.
 */
export function replayStartOf(
  cell: Cell,
  session: { tools: readonly CellTool[]; limits: Readonly<CellLimits> },
): MirroredStart | undefined {
  const run = cell.runState();
  // A cell whose values are not a commit of the session (restored, replayed) was the client's first.
  if (run?.program?.storedAt === undefined) return undefined;
  const start: MirroredStart = {
    code: run.program.source,
    filename: run.program.filename,
    toolCallId: run.toolCallId,
    storedAt: run.program.storedAt,
    seed: run.journal.seed,
  };
  if (run.tools !== session.tools)
    start.tools = run.tools.map((tool) => JSON.parse(JSON.stringify(tool.definition)) as ToolDefinition);
  if (LIMIT_NAMES.some((name) => run.limits[name] !== session.limits[name])) start.limits = { ...run.limits };
  return start;
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
  queued: QueuedPause[];
}

/** Checks `pausedCells[index]` of a snapshot whose next cell id is `nextCellId`: ERR_INVALID_REQUEST saying why. */
export function checkPausedCell(value: unknown, index: number, nextCellId: number): RestoredCell {
  const where = `snapshot.pausedCells[${index}]`;
  const run = checkCellRun(value, where, 'cannot resume the session');
  const saved = value as Record<string, unknown>;
  let held: JournalDelivery[];
  try {
    if (!Array.isArray(saved.held)) throw new Error('held must be an array');
    held = saved.held.map(checkDelivery);
  } catch (error) {
    throw invalidRequest(`cannot resume the session: ${where}: ${messageOf(error)}`);
  }
  const paused = checkEvent(saved.event, run.journal, nextCellId);
  if (paused === undefined)
    throw invalidRequest(
      `cannot resume the session: ${where}.event must be the interrupted event of a call its journal holds, still pending`,
    );
  const bad = `cannot resume the session: ${where}.queued`;
  return { ...run, held, event: paused, queued: checkQueued(saved.queued, run.journal, paused.callId, bad) };
}

/** The calls waiting to pause a snapshot's paused cell in turn: each a pending call of its journal, once. */
function checkQueued(
  value: unknown,
  journal: CellJournal,
  pausedAt: string | undefined,
  refusal: string,
): QueuedPause[] {
  if (value === undefined) return [];
  const bad = `${refusal} must be an array of { callId, payload }, each a call its journal holds, still pending, once`;
  if (!Array.isArray(value)) throw invalidRequest(bad);
  const seen = new Set(pausedAt === undefined ? [] : [pausedAt]);
  return value.map((entry: unknown) => {
    const { callId, payload, inDoubt } = (entry ?? {}) as Partial<QueuedPause>;
    const pending =
      typeof callId === 'string' && journal.call(callId) !== undefined && journal.outcomeOf(callId) === 'pending';
    if (!pending || seen.has(callId) || !isPlainJson(payload ?? null)) throw invalidRequest(bad);
    seen.add(callId);
    return inDoubt === true ? { callId, payload: payload ?? null, inDoubt } : { callId, payload: payload ?? null };
  });
}

/** What any saved run of a cell holds, checked: what it runs, with which tools, limits and values, and its journal. */
export function checkCellRun(
  value: unknown,
  where: string,
  refusal: string,
): Omit<RestoredCell, 'held' | 'event' | 'queued'> {
  const bad = (why: string): never => {
    throw invalidRequest(`${refusal}: ${where}${why}`);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return bad(' must be an object');
  const saved = value as Record<string, unknown>;
  const { code, filename, toolCallId, storedValues } = saved;
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
  try {
    journal = CellJournal.restore(saved.journal, limits.journalMaxBytes);
  } catch (error) {
    return bad(`: ${messageOf(error)}`);
  }
  return {
    code,
    filename,
    toolCallId,
    tools,
    limits,
    storedValues: storedValues as Record<string, string> | null,
    journal,
  };
}

/** A cell lost with its host, as its client sends it to run again (replayCell), checked. */
export function checkReplayableCell(
  value: unknown,
  nextCellId: number,
): Omit<RestoredCell, 'event'> & {
  cellId: string;
  outstanding: string[];
  paused: Interrupted | undefined;
  approved: string[];
} {
  const refusal = 'cannot replay the cell';
  const run = checkCellRun(value, 'cell', refusal);
  const { cellId, outstanding } = value as Record<string, unknown>;
  if (typeof cellId !== 'string' || !/^[1-9]\d*$/.test(cellId) || Number(cellId) >= nextCellId)
    throw invalidRequest(`${refusal}: cell.cellId must be the id of a cell this session gave out`);
  if (!Array.isArray(outstanding) || !outstanding.every((callId) => typeof callId === 'string'))
    throw invalidRequest(`${refusal}: cell.outstanding must be an array of call ids`);
  for (const callId of outstanding as string[])
    if (run.journal.call(callId) === undefined || run.journal.outcomeOf(callId) !== 'pending')
      throw invalidRequest(`${refusal}: cell.outstanding names ${callId}, not a call its journal holds still pending`);
  const saved = (value as Record<string, unknown>).paused;
  const paused = saved === undefined ? undefined : checkEvent(saved, run.journal, nextCellId);
  if (saved !== undefined && (paused === undefined || paused.cellId !== cellId))
    throw invalidRequest(
      `${refusal}: cell.paused must be its interrupted event, at a call its journal holds, still pending`,
    );
  const held = checkHeld((value as Record<string, unknown>).held, run.journal, refusal);
  if (held.length > 0 && paused === undefined) throw invalidRequest(`${refusal}: cell.held goes only with cell.paused`);
  const queued = checkQueued(
    (value as Record<string, unknown>).queued,
    run.journal,
    paused?.callId,
    `${refusal}: cell.queued`,
  );
  if (queued.some(({ callId }) => (outstanding as string[]).includes(callId)))
    throw invalidRequest(`${refusal}: cell.queued names a call cell.outstanding names too`);
  const approved = checkApproved((value as Record<string, unknown>).approved, run.journal, refusal);
  return { ...run, cellId, outstanding: outstanding as string[], paused, held, queued, approved };
}

/** Calls the run makes again that a person approved: call ids its journal does not hold (they are made anew). */
function checkApproved(value: unknown, journal: CellJournal, refusal: string): string[] {
  if (value === undefined) return [];
  const bad = `${refusal}: cell.approved must be an array of call ids its journal does not hold`;
  if (!Array.isArray(value) || value.length > MAX_OUTSTANDING_TOOL_CALLS) throw invalidRequest(bad);
  for (const callId of value)
    if (typeof callId !== 'string' || !/^tool-\d+$/.test(callId) || journal.call(callId) !== undefined)
      throw invalidRequest(bad);
  return value as string[];
}

/** Outcomes held for a paused cell (each of a call its journal holds, still pending), checked. */
function checkHeld(value: unknown, journal: CellJournal, refusal: string): JournalDelivery[] {
  if (value === undefined) return [];
  try {
    if (!Array.isArray(value)) throw new Error('must be an array');
    return value.map((entry) => {
      const delivery = checkDelivery(entry);
      if (delivery.kind === 'settle' && journal.call(delivery.callId) === undefined)
        throw new Error(`settles ${delivery.callId}, which its journal does not hold`);
      return delivery;
    });
  } catch (error) {
    throw invalidRequest(`${refusal}: cell.held ${messageOf(error)}`);
  }
}

function isTextRecord(value: unknown): value is Record<string, string> {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.values(value).every((text) => typeof text === 'string' && isJson(text))
  );
}

function isPlainJson(value: unknown): boolean {
  try {
    return isJson(JSON.stringify(value));
  } catch {
    return false;
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * An interrupted event as a snapshot or a replay brings it: of a cell this session gave out, at a
 * call its journal holds still pending, naming the call's tool, its input and the interrupt's
 * payload as JSON (an in-doubt pause with its reason and idempotency key).
 */
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
    journal.outcomeOf(event.callId) === 'pending' &&
    isToolRef(event.tool) &&
    isPlainJson(event.input ?? null) &&
    isPlainJson(event.payload ?? null) &&
    (event.reason === undefined || (event.reason === 'inDoubt' && typeof event.idempotencyKey === 'string'));
  return valid ? event : undefined;
}

/** A call's tool as an event names it: `{ name, namespace? }`, strings. */
function isToolRef(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const { name, namespace } = value as Record<string, unknown>;
  return typeof name === 'string' && name !== '' && (namespace === undefined || typeof namespace === 'string');
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
