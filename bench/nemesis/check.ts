// The nemesis's checker (issue 68): the tool service's ground truth against what every agent
// wrote down, and the store after the quiet phase. Each violation is one line naming the call, the
// cell or the session, with what was seen.
import type { StoredSessionInfo } from '../../src/index.js';
import { NEMESIS_TOOLS } from './agent.js';
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

/** The violations of the promise (SPEC §16) in what the agents wrote and in `effects`. */
export function check(entries: readonly AgentEntry[], effects: Effects): string[] {
  const violations: string[] = [];
  // At most once, unless idempotent.
  for (const [key, { tool, times }] of effects)
    if (times > 1 && !IDEMPOTENT.has(tool)) violations.push(`${tool} ${key} took effect ${times} times`);
  // Nothing took effect that no record knows of.
  const invoked = new Set(entries.flatMap((entry) => (entry.t === 'invoke' ? [entry.key] : [])));
  for (const [key, { tool }] of effects)
    if (!invoked.has(key)) violations.push(`${tool} ${key} took effect, and no agent wrote that it made it`);
  // Each call an agent saw answered took effect.
  for (const entry of entries)
    if (entry.t === 'outcome' && entry.ok && !effects.has(entry.key))
      violations.push(`${entry.key} was answered, and never took effect`);
  // Stored values never go back (each completed cell stored a counter one higher, none twice), and
  // a completed cell printed what a run without faults prints: its charge and lookup took effect once.
  const counters = new Map<string, string>();
  for (const entry of entries) {
    if (entry.t !== 'cell' || entry.event.kind !== 'completed') continue;
    const [, counter, charge, lookup] = /(?:^|\n)i=(\d+) (\d+)\/\d+\/(\d+)$/.exec(entry.event.text) ?? [];
    if (counter === undefined) continue;
    if (charge !== '1' || lookup !== '1')
      violations.push(`session ${entry.session} cell ${entry.cellId} printed ${entry.event.text}`);
    const where = `${entry.session} i=${counter}`;
    const before = counters.get(where);
    if (before !== undefined && before !== entry.cellId)
      violations.push(`session ${entry.session}: cells ${before} and ${entry.cellId} both stored i=${counter}`);
    counters.set(where, entry.cellId);
  }
  return violations;
}

/**
 * After the quiet phase: no session lost, each held by a live agent (its lease current), none
 * with a cell still open (each ended, or was settled in doubt), as its owner last wrote.
 */
export function checkSessions(
  sessions: readonly StoredSessionInfo[],
  made: number,
  now: number,
  /** The open cells of a session its log names, where the store counts any. */
  open: ReadonlyMap<string, readonly string[]> = new Map(),
): string[] {
  const violations: string[] = [];
  if (sessions.length !== made) violations.push(`${made} sessions were made; the store has ${sessions.length}`);
  for (const { key, owner, leaseExpiresAt, openCells } of sessions) {
    if (leaseExpiresAt < now) violations.push(`session ${key}: no agent holds it (${owner}'s lease ran out)`);
    if (openCells > 0)
      violations.push(
        `session ${key}: ${openCells} cell(s) still open after the quiet phase (held by ${owner}; its log: cells ${open.get(key)?.join(', ') ?? '?'})`,
      );
  }
  return violations;
}
