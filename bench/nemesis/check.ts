// The nemesis's checker (issues 68, 83): the tool service's ground truth (each call's effects by
// idempotency key, and whether its store held its `started` record when it came) against what every
// agent wrote down and what every cell was told of each call, and the stores after the quiet phase.
// Each violation is one line naming the call, the cell or the session, with what was seen.
import type { StoredSessionInfo } from '../../src/index.js';
import { IN_DOUBT, NEMESIS_TOOLS } from './agent.js';
import { jsonLines, type AgentEntry } from './entries.js';

const IDEMPOTENT = new Set(NEMESIS_TOOLS.filter((tool) => tool.idempotent === true).map((tool) => tool.name));

/** Each call's key in the tool service, and how many times it took effect. */
export type Effects = ReadonlyMap<string, { tool: string; times: number }>;

/** The entries of the agents' journals (a line cut short by a kill -9 is not one). */
export function readJournals(journals: readonly string[]): AgentEntry[] {
  return journals.flatMap((path) => jsonLines<AgentEntry>(path));
}

/** How the cells the agents saw ended (`completed`, `paused inDoubt`, `terminated hostLost`, …). */
export function figures(entries: readonly AgentEntry[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const entry of entries) {
    if (entry.t !== 'cell') continue;
    const { kind } = entry.event;
    const { reason } = entry.event as { reason?: string };
    const how =
      kind === 'interrupted'
        ? `paused ${reason ?? 'by a tool'}`
        : kind === 'terminated'
          ? `terminated ${reason}`
          : kind;
    counts.set(how, (counts.get(how) ?? 0) + 1);
  }
  return counts;
}

/** The calls a cell makes, in the order it makes them (their ids: tool-1, tool-2, …). */
const CALLS = ['charge', 'rate', 'lookup', 'deploy'] as const;
/** What a completed cell prints (its text's last line, JSON): the counter it stored, each call's outcome as told. */
function printed(text: string): { i: number; told: string[] } | undefined {
  try {
    const line = JSON.parse(text.split('\n').at(-1) ?? '') as Record<string, unknown>;
    const told = CALLS.map((tool) => line[tool]);
    if (!Number.isSafeInteger(line.i) || !told.every((outcome) => typeof outcome === 'string')) return undefined;
    return { i: line.i as number, told: told as string[] };
  } catch {
    return undefined;
  }
}

/**
 * The violations of the promise (SPEC §16) in what the agents wrote, in `effects` (the tool
 * service's ground truth, by idempotency key), and in `unwritten` (calls that took effect when the
 * store held no `started` record of them: read from the store itself when the call came).
 */
export function check(entries: readonly AgentEntry[], effects: Effects, unwritten: readonly string[] = []): string[] {
  const violations: string[] = [];
  // At most once, unless idempotent.
  for (const [key, { tool, times }] of effects)
    if (times > 1 && !IDEMPOTENT.has(tool)) violations.push(`${tool} ${key} took effect ${times} times`);
  // Written before made: codecell's own record, and the agent's.
  for (const key of unwritten) violations.push(`${key} took effect with no started record in its store`);
  const invoked = new Set(entries.flatMap((entry) => (entry.t === 'invoke' ? [entry.key] : [])));
  for (const [key, { tool }] of effects)
    if (!invoked.has(key)) violations.push(`${tool} ${key} took effect, and no agent wrote that it made it`);
  // Each call an agent saw answered took effect.
  for (const entry of entries)
    if (entry.t === 'outcome' && entry.ok && !effects.has(entry.key))
      violations.push(`${entry.key} was answered, and never took effect`);
  // Every completed cell: what it was told of each call against what took effect; stored values
  // never go back (each stored a counter one higher, none twice). A call one of whose attempts
  // failed in its agent's own delegate (the tool service's answer lost: an idempotent call made
  // again, say) may be told that failure though another attempt took effect.
  const failedAttempt = new Set(entries.flatMap((entry) => (entry.t === 'outcome' && !entry.ok ? [entry.key] : [])));
  const counters = new Map<string, string>();
  // Each completed cell's counter by its id: one id ending twice with two counters was two cells.
  const cells = new Map<string, number>();
  for (const entry of entries) {
    if (entry.t !== 'cell' || entry.event.kind !== 'completed') continue;
    const where = `session ${entry.session} cell ${entry.cellId}`;
    const seen = printed(entry.event.text);
    const error = (entry.event as { error?: string }).error;
    if (seen === undefined || error !== undefined) {
      const what = error === undefined ? `text ${JSON.stringify(entry.event.text)}` : `error ${error}`;
      violations.push(`${where} completed with ${what}`);
      continue;
    }
    for (const [index, tool] of CALLS.entries()) {
      const outcome = seen.told[index] as string;
      if (outcome === 'none') continue;
      const key = `${entry.session}:${entry.cellId}:tool-${index + 1}`;
      violations.push(...toldAgainst(where, key, tool, outcome, effects, failedAttempt.has(key)));
    }
    const counter = seen.i;
    const stored = `${entry.session} i=${counter}`;
    const before = counters.get(stored);
    if (before !== undefined && before !== entry.cellId)
      violations.push(`session ${entry.session}: cells ${before} and ${entry.cellId} both stored i=${counter}`);
    counters.set(stored, entry.cellId);
    const cell = `${entry.session}:${entry.cellId}`;
    const first = cells.get(cell);
    if (first !== undefined && first !== counter)
      violations.push(
        `session ${entry.session}: cell ${entry.cellId} completed as i=${first} and as i=${counter} (one id, two cells)`,
      );
    cells.set(cell, counter);
  }
  return violations;
}

/**
 * What a cell was told of a call, against whether it took effect: a success only for one that did
 * (once, unless idempotent); a failure only for one that did not — one that did but whose outcome
 * was lost must reach the cell in doubt (the agent settles those with IN_DOUBT) or as its result —
 * or for one an attempt of which failed in the agent's delegate (`attemptFailed`).
 */
function toldAgainst(
  where: string,
  key: string,
  tool: string,
  outcome: string,
  effects: Effects,
  attemptFailed: boolean,
): string[] {
  const times = effects.get(key)?.times ?? 0;
  if (outcome.startsWith('ok:')) {
    if (times === 0) return [`${where}: ${tool} ${key} was told a success, and never took effect`];
    if (outcome !== 'ok:1' && !IDEMPOTENT.has(tool)) return [`${where}: ${tool} ${key} was told ${outcome}`];
    return [];
  }
  if (outcome === `err:${IN_DOUBT}` || attemptFailed) return [];
  return times > 0 ? [`${where}: ${tool} ${key} took effect, and was told a failure (${outcome})`] : [];
}

/**
 * After the quiet phase: no session lost (each whose creation was answered is stored), each held
 * by a live agent (its lease current), none with a cell still open (each ended, or was settled in
 * doubt), as its owner last wrote.
 */
export function checkSessions(
  sessions: readonly StoredSessionInfo[],
  /** The sessions whose creation was answered (a session whose creator died first may be removed). */
  made: Iterable<string>,
  now: number,
  /** The open cells of a session its log names, where the store counts any. */
  open: ReadonlyMap<string, readonly string[]> = new Map(),
): string[] {
  const violations: string[] = [];
  const stored = new Set(sessions.map(({ key }) => key));
  for (const key of made) if (!stored.has(key)) violations.push(`session ${key} was made, and the store lost it`);
  for (const { key, owner, leaseExpiresAt, openCells } of sessions) {
    if (leaseExpiresAt < now) violations.push(`session ${key}: no agent holds it (${owner}'s lease ran out)`);
    if (openCells > 0)
      violations.push(
        `session ${key}: ${openCells} cell(s) still open after the quiet phase (held by ${owner}; its log: cells ${open.get(key)?.join(', ') ?? '?'})`,
      );
  }
  return violations;
}
