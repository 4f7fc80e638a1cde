// What an agent of the nemesis writes to its journal (agent.ts), and what the checker reads
// (check.ts, cursors.ts, history.ts).
import { existsSync, readFileSync } from 'node:fs';
import type { CellEvent } from '../../src/index.js';

/** One line of an agent's journal. */
export type AgentEntry =
  | { t: 'invoke'; key: string; tool: string }
  | { t: 'outcome'; key: string; ok: boolean }
  | { t: 'cell'; session: string; cellId: string; event: Omit<CellEvent, 'items'> & { text: string } }
  /** A session's creation was answered: from then on the store must keep it. */
  | { t: 'created'; session: string };

/** A file's JSON lines (none if it is missing; a line cut short by a kill -9 is not one). */
export function jsonLines<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as T];
      } catch {
        return [];
      }
    });
}
