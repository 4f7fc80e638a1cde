// Following a cell's events while a code-mode call waits on it (codecell mcp sends them as MCP
// progress notifications).
import type { CellStreamEvent, CodeCellSession } from '../types.js';

/** Hands the cell's events to `onEvent` until the returned stop is called. */
export function follow(
  live: CodeCellSession,
  cellId: string,
  onEvent: ((event: CellStreamEvent) => void) | undefined,
): () => void {
  if (onEvent === undefined) return () => {};
  const events = live.events(cellId)[Symbol.asyncIterator]();
  let following = true;
  void (async () => {
    for (let next = await events.next(); !next.done && following; next = await events.next()) onEvent(next.value);
  })().catch(() => {});
  return () => {
    following = false;
    void events.return?.().catch(() => {});
  };
}
