// What an agent of the nemesis writes to its journal (agent.ts), and what the checker reads
// (check.ts, cursors.ts, history.ts).
import type { CellEvent } from '../../src/index.js';

/** One line of an agent's journal. */
export type AgentEntry =
  | { t: 'invoke'; key: string; tool: string }
  | { t: 'outcome'; key: string; ok: boolean }
  | { t: 'cell'; session: string; cellId: string; event: Omit<CellEvent, 'items'> & { text: string } };
