// A cell's floating rejections (SPEC §5): isolated-vm ends a task whose rejection nobody handled
// with that rejection; the sandbox reports a handler attached later (sandbox/rejections.ts). What
// is still unhandled when the cell finishes becomes one warning each, never the cell's error.
import { messageOf } from '../errors.js';
import { cellStackOf } from '../isolate/errors.js';

/** How many unhandled rejections a cell reports one by one (the rest are counted). */
const MAX_REPORTED = 100;

export interface Rejection {
  /** Matches the sandbox's key for the same reason (sandbox/rejections.ts). */
  readonly key: string;
  /** The reason as the cell would print it, its stack without the host's frames. */
  readonly description: string;
}

/** The key of a rejection reason copied out of the isolate (first two lines of its stack). */
export function rejectionOf(reason: unknown): Rejection {
  const stack = cellStackOf(reason);
  const description = stack ?? messageOf(reason);
  return { key: (stack === undefined ? description : stack.split('\n', 2).join('\n')).slice(0, 1_000), description };
}

export class FloatingRejections {
  readonly #unhandled: Rejection[] = [];
  #uncounted = 0;

  /** A task ended with this rejection unhandled. */
  add(rejection: Rejection): void {
    if (this.#unhandled.length < MAX_REPORTED) this.#unhandled.push(rejection);
    else this.#uncounted++;
  }

  /** The cell attached a handler to a rejection with this key: one report of it goes. */
  handled(key: string): boolean {
    const index = this.#unhandled.findIndex((rejection) => rejection.key === key);
    if (index < 0) return false;
    this.#unhandled.splice(index, 1);
    return true;
  }

  /** One warning per rejection still unhandled: its first line and where it was made. */
  warnings(): string[] {
    const lines = this.#unhandled.map(({ description }) => {
      const [first = '', ...frames] = description.split('\n');
      const where = frames.map((frame) => /\(?([^\s()]+:\d+:\d+)\)?\s*$/.exec(frame)?.[1]).find((at) => at !== undefined && !at.startsWith('codecell-prelude.js'));
      return `Warning: unhandled rejection: ${first}${where === undefined ? '' : ` (${where})`}`;
    });
    if (this.#uncounted > 0) lines.push(`Warning: ${this.#uncounted} more unhandled rejection(s)`);
    return lines;
  }
}
