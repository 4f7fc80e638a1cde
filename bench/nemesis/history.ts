// What the nemesis prints under a violation (issue 68): the history around it — for a call (named
// by its idempotency key) every agent's lines about it; for a cell (a session and a cell id) what
// the agents wrote of its end and what its session's followers were told of it.
import type { AgentEntry } from './entries.js';
import type { CursorLine } from './cursors.js';

/** At most this many lines of history under one violation. */
const LINES = 12;

export function historyOf(
  violation: string,
  entries: readonly AgentEntry[],
  cursors: ReadonlyMap<string, readonly CursorLine[]>,
): string[] {
  const key = /\b(\S+:\d+:tool-\d+)\b/.exec(violation)?.[1];
  if (key !== undefined)
    return entries
      .filter((entry) => (entry.t === 'invoke' || entry.t === 'outcome') && entry.key === key)
      .map((entry) => JSON.stringify(entry));
  const session = /session ([^\s:]+)/.exec(violation)?.[1];
  const cells = [...violation.matchAll(/cells? (\d+)(?: and (\d+))?/g)].flatMap((match) =>
    match.slice(1).filter((id) => id !== undefined),
  );
  if (session === undefined || cells.length === 0) return [];
  const ended = entries.filter(
    (entry) => entry.t === 'cell' && entry.session === session && cells.includes(entry.cellId),
  );
  const told = (cursors.get(session) ?? []).filter((line) => cells.includes(line.cellId));
  return [...ended, ...told].slice(-LINES).map((line) => JSON.stringify(line));
}
