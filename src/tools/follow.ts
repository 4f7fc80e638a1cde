// Following a cell's events while a code-mode call waits on it (codecell mcp sends them as MCP
// progress notifications), and giving up on it when the call is aborted.
import type { CellEvent, CellStreamEvent, CodeCellSession } from '../types.js';

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

/** The cell's event; when `signal` aborts first, the cell is terminated and this rejects with its reason. */
export async function terminateOnAbort(
  live: CodeCellSession,
  cellId: string,
  event: Promise<CellEvent>,
  signal: AbortSignal,
): Promise<CellEvent> {
  const aborted = Promise.withResolvers<never>();
  const stop = (): void => {
    void live.terminate(cellId).catch(() => {});
    aborted.reject(signal.reason);
  };
  if (signal.aborted) stop();
  else signal.addEventListener('abort', stop, { once: true });
  try {
    return await Promise.race([event, aborted.promise]);
  } finally {
    signal.removeEventListener('abort', stop);
  }
}
