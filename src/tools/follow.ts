// Following a cell's events while a code-mode call waits on it (codecell mcp sends them as MCP
// progress notifications), and giving up on it when the call is aborted.
import { readByTurn } from '../streams/by-turn.js';
import type { CodeCellSession } from '../session-interface.js';
import type { CellEvent, CellStreamEvent } from '../types.js';

/** How long a call that has its cell's outcome waits at most for the cell's last events to be handed on. */
const LAST_EVENTS_MS = 250;

/**
 * Hands the cell's events to `onEvent`, a turn of the loop at a time, until the returned function
 * is called: with `ended` (the cell's outcome is known), once the stream has handed on its last
 * events (an event may still be on its way, from the host, when the outcome arrives), within a
 * bound.
 */
export function follow(
  live: CodeCellSession,
  cellId: string,
  onEvent: ((event: CellStreamEvent) => void) | undefined,
): (ended?: boolean) => Promise<void> {
  if (onEvent === undefined) return async () => {};
  const events = live.events(cellId)[Symbol.asyncIterator]();
  let following = true;
  const read = readByTurn(events, onEvent, () => following).catch(() => {});
  return async (ended = false) => {
    if (ended) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([read, new Promise((resolve) => (timer = setTimeout(resolve, LAST_EVENTS_MS)))]);
      clearTimeout(timer);
    }
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
