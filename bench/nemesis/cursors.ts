// The nemesis's durable cursors (issue 68, SPEC §16): an agent follows each session it drives with
// `session.events({ after })`, `after` being the last event any follower of the session wrote
// down, and writes each event it is handed to the session's cursor file, one line each (a kill -9
// keeps whole lines). Each follow is a run; the checker asks of each run that it was handed the
// events after its `after`, each once, none skipped; of all runs that one `seq` is one event and
// each cell's end one event (successive followers are told it once); and that each cell an agent
// saw complete had its end handed out.
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CodeCellSession } from '../../src/index.js';
import { jsonLines, type AgentEntry } from './entries.js';

/** One event handed to a follower (or why its follow failed). */
export interface CursorLine {
  run: string;
  after: number;
  seq: number;
  type: string;
  cellId: string;
  /** A `closed` event's cell end (`completed`, `terminated`, …). */
  kind?: string;
  error?: string;
}

const file = (dir: string, key: string): string => join(dir, `${key}.cursor.jsonl`);

const linesOf = (path: string): CursorLine[] => jsonLines<CursorLine>(path);

/** Follows the session's events from where its followers left off, while it lives here. */
export async function follow(dir: string, session: CodeCellSession, run: string): Promise<void> {
  const path = file(dir, session.key);
  const after = Math.max(0, ...linesOf(path).map((line) => line.seq));
  const write = (line: Omit<CursorLine, 'run' | 'after'>): void =>
    appendFileSync(path, `${JSON.stringify({ run, after, ...line })}\n`);
  try {
    for await (const event of session.events({ after })) {
      if (!session.isAlive) return;
      const cellId = 'cellId' in event ? event.cellId : '';
      write({
        seq: event.seq,
        type: event.type,
        cellId,
        ...(event.type === 'closed' ? { kind: event.event.kind } : {}),
      });
    }
  } catch (error) {
    // A store that could not answer (a fault at work) says so: the follower asks again, later.
    if ((error as { code?: string }).code === 'ERR_STORE_FAILED' && session.isAlive) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      return follow(dir, session, run);
    }
    if (session.isAlive) write({ seq: -1, type: 'error', cellId: '', error: String(error) });
  }
}

/** Every session's cursor lines, by session key. */
export function readCursors(dir: string): Map<string, CursorLine[]> {
  const cursors = new Map<string, CursorLine[]>();
  for (const name of readdirSync(dir))
    if (name.endsWith('.cursor.jsonl')) cursors.set(name.slice(0, -'.cursor.jsonl'.length), linesOf(join(dir, name)));
  return cursors;
}

/** The violations of the durable cursor's promise in the followers' lines. */
export function checkCursors(cursors: ReadonlyMap<string, readonly CursorLine[]>, entries: readonly AgentEntry[]) {
  const violations: string[] = [];
  for (const [key, lines] of cursors) {
    const events = new Map<number, string>();
    // Each cell's end by the seq it was told as: across followers, one end is one event.
    const endsAt = new Map<string, number>();
    const runs = new Map<string, CursorLine[]>();
    for (const line of lines) runs.set(line.run, [...(runs.get(line.run) ?? []), line]);
    for (const [run, seen] of runs) {
      let last = seen[0]?.after ?? 0;
      const ends = new Set<string>();
      for (const line of seen) {
        if (line.error !== undefined) {
          violations.push(`session ${key}: follower ${run} (after ${line.after}) failed: ${line.error}`);
          continue;
        }
        // A gap says older events were dropped: the next one may come later than `last + 1`.
        if (line.type !== 'gap' && line.seq !== last + 1)
          violations.push(`session ${key}: follower ${run} was handed seq ${line.seq} after ${last}`);
        last = line.seq;
        const what = `${line.type} ${line.cellId}`;
        const before = events.get(line.seq);
        if (before !== undefined && before !== what)
          violations.push(`session ${key}: seq ${line.seq} was ${before} and ${what}`);
        events.set(line.seq, what);
        if (line.type !== 'closed') continue;
        if (ends.has(line.cellId))
          violations.push(`session ${key}: follower ${run} told cell ${line.cellId}'s end twice`);
        ends.add(line.cellId);
        const told = endsAt.get(line.cellId);
        if (told !== undefined && told !== line.seq)
          violations.push(`session ${key}: cell ${line.cellId}'s end was told twice, as seq ${told} and ${line.seq}`);
        endsAt.set(line.cellId, told ?? line.seq);
      }
    }
  }
  // Each cell an agent saw complete: its end reached the session's followers.
  for (const entry of entries) {
    if (entry.t !== 'cell' || entry.event.kind !== 'completed') continue;
    const told = cursors
      .get(entry.session)
      ?.some((line) => line.type === 'closed' && line.cellId === entry.cellId && line.kind === 'completed');
    if (told !== true)
      violations.push(`session ${entry.session}: cell ${entry.cellId} completed, and no follower was told`);
  }
  return violations;
}
