// What each cell of one MCP session made: its upstream calls answered without an error, so that a
// cell that fails or is ended says which side effects stand (the MCP code-mode checklist: an
// uncaught error is reported with the calls already made). Kept in this process: a cell recovered
// after a restart lists only what it made since.

/** The calls listed per cell at most; past it they are counted. */
const MAX_LISTED = 100;

export class CallsMade {
  readonly #byCell = new Map<string, { listed: string[]; more: number }>();

  /** A call of cell `cellId` answered: `tools.<id> (<callId>)`. */
  made(cellId: string, call: string): void {
    let calls = this.#byCell.get(cellId);
    if (calls === undefined) this.#byCell.set(cellId, (calls = { listed: [], more: 0 }));
    if (calls.listed.length < MAX_LISTED) calls.listed.push(call);
    else calls.more++;
  }

  /** What the cell made, in order (the calls past MAX_LISTED as one line): forgotten here. */
  take(cellId: string): string[] {
    const calls = this.#byCell.get(cellId);
    this.#byCell.delete(cellId);
    if (calls === undefined) return [];
    return calls.more === 0 ? calls.listed : [...calls.listed, `… and ${calls.more} more`];
  }
}
