// Following a cell's events while a code-mode call waits on it (codecell mcp sends them as MCP
// progress notifications), and giving up on it when the call is aborted.
import { readByTurn } from '../streams/by-turn.js';
import type { CellEvent, CellStreamEvent, CodeCellSession } from '../types.js';

/** Hands the cell's events to `onEvent` until the returned stop is called, a turn of the loop at a time. */
export function follow(
  live: CodeCellSession,
  cellId: string,
  onEvent: ((event: CellStreamEvent) => void) | undefined,
): () => void {
  if (onEvent === undefined) return () => {};
  const events = live.events(cellId)[Symbol.asyncIterator]();
  let following = true;
  readByTurn(events, onEvent, () => following).catch(() => {});
  return () => {
    following = false;
    void events.return?.().catch(() => {});
  };
}

/**
 * The cell's event; when `signal` aborts first, the cell is terminated and this rejects with its
 * reason (`terminated` gets the termination's outcome, for whoever asks for the cell next).
 */
export async function terminateOnAbort(
  live: CodeCellSession,
  cellId: string,
  event: Promise<CellEvent>,
  signal: AbortSignal,
  terminated: (outcome: Promise<CellEvent>) => void,
): Promise<CellEvent> {
  const aborted = Promise.withResolvers<never>();
  const stop = (): void => {
    const outcome = live.terminate(cellId);
    outcome.catch(() => {});
    terminated(outcome);
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
