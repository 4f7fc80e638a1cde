// The rules every CodeCellSession keeps the same way, in-process (SessionRuntime) or remote
// (RemoteSession): shutdown runs once and every caller gets the same promise, a session that is
// shutting down refuses new cells, observe() is beginObserve()'s event, a cell id is a
// non-empty string, and a cell has at most one observer (busyObserverError); events() with and
// without a cell, and a started cell's readText().
import { CodeCellError, quiet } from '../errors.js';
import type { CodeCellSession } from '../session-interface.js';
import type {
  CellAnswer,
  CellEvent,
  CellId,
  CellStreamEvent,
  EventsOptions,
  ExecuteRequest,
  HandOffStream,
  ObserveMode,
  OpenCell,
  PendingEvent,
  SessionEventsOptions,
  SessionStreamEvent,
  StartedCell,
} from '../types.js';
import { checkCellId } from '../validate.js';

export { busyObserverError } from '../cell/observer.js';

export abstract class SessionBase implements CodeCellSession {
  abstract readonly key: string;
  #shutdown: Promise<void> | undefined;

  get isAlive(): boolean {
    return this.#shutdown === undefined;
  }

  abstract execute(request: ExecuteRequest, initialObserve?: ObserveMode): Promise<StartedCell>;
  abstract beginObserve(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<PendingEvent>;
  abstract terminate(cellId: CellId): Promise<CellEvent>;
  abstract resumeCell(cellId: CellId, answer: CellAnswer, observe?: ObserveMode): Promise<CellEvent>;
  abstract cells(): OpenCell[];
  /** The shutdown itself; shutdown() calls it once. */
  protected abstract shutdownOnce(): Promise<void>;
  /** A stream of every cell's events, from now on or after `after` (checked; see events()). */
  protected abstract sessionEvents(after: number | undefined): HandOffStream<SessionStreamEvent>;
  /** A stream of one cell's events, the id and options checked (see events(cellId)). */
  protected abstract cellEvents(cellId: CellId, options: EventsOptions): HandOffStream<CellStreamEvent>;

  /**
   * Every cell's events (each with its cellId and the session's `seq`), admissions included, in
   * the order they happen; `options.after` continues after the event of that seq.
   */
  events(options?: SessionEventsOptions): HandOffStream<SessionStreamEvent>;
  /** One cell's events; `options.from: 'start'` replays them from the cell's admission. */
  events(cellId: CellId, options?: EventsOptions): HandOffStream<CellStreamEvent>;
  events(
    cellId?: CellId | SessionEventsOptions,
    options?: EventsOptions,
  ): HandOffStream<SessionStreamEvent> | HandOffStream<CellStreamEvent> {
    if (cellId === undefined || (cellId !== null && typeof cellId === 'object'))
      return this.sessionEvents(checkAfter(cellId));
    const id = this.checkCellId(cellId);
    if (options !== undefined && (options === null || typeof options !== 'object'))
      throw new CodeCellError('ERR_INVALID_REQUEST', 'events options must be an object');
    const from = (options as { from?: unknown } | undefined)?.from;
    if (from !== undefined && from !== 'now' && from !== 'start')
      throw new CodeCellError(
        'ERR_INVALID_REQUEST',
        `events options.from must be 'now' or 'start', got ${JSON.stringify(from)}`,
      );
    return this.cellEvents(id, from === undefined ? {} : { from });
  }

  /** What execute resolves with: the cell's id, its initial event, and readText(). */
  protected startedCell(cellId: CellId, initialEvent: Promise<CellEvent>): StartedCell {
    // Neither promise may crash a caller who never awaits it (a host that dies rejects them).
    return {
      cellId,
      initialEvent: quiet(initialEvent),
      readText: () => quiet(readText(this.cellEvents(cellId, { from: 'start' }))),
    };
  }

  /** `signal` (optional) gives up the observation and frees the observer slot when aborted. */
  async observe(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<CellEvent> {
    const { event } = await this.beginObserve(cellId, mode, signal);
    return event;
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.shutdownOnce();
    return this.#shutdown;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  protected get shuttingDown(): boolean {
    return this.#shutdown !== undefined;
  }

  protected assertNotShuttingDown(): void {
    if (this.#shutdown !== undefined) throw new CodeCellError('ERR_SHUTTING_DOWN', 'the session is shutting down');
  }

  /** The cell id, checked: ERR_INVALID_REQUEST unless a non-empty string. */
  protected checkCellId(cellId: unknown): CellId {
    return checkCellId(cellId);
  }
}

/** The session stream options' `after`, checked: a whole number from 0 on (or none). */
function checkAfter(options: SessionEventsOptions | undefined): number | undefined {
  const after = options?.after;
  if (after !== undefined && !(Number.isSafeInteger(after) && after >= 0))
    throw new CodeCellError(
      'ERR_INVALID_REQUEST',
      `events options.after must be a whole number from 0 on (an event's seq), got ${JSON.stringify(after)}`,
    );
  return after;
}

/**
 * The text items of a cell's stream until its end, one per line. A replay whose oldest events
 * were no longer kept says so in a final line (the text is then the newest part of the output).
 */
async function readText(stream: AsyncIterable<CellStreamEvent>): Promise<string> {
  const lines: string[] = [];
  let dropped = 0;
  for await (const event of stream) {
    if (event.type === 'output' && event.item.type === 'text') lines.push(event.item.text);
    else if (event.type === 'gap') dropped += event.dropped;
  }
  if (dropped > 0)
    lines.push(
      `[readText: the cell's ${dropped} oldest events were no longer kept; the text above is the ` +
        `newest part of its output]`,
    );
  return lines.join('\n');
}
