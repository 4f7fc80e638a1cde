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
  /**
   * The module's first task ended with this rejection unhandled before the module settled: one
   * the module may still handle, or source that closed the wrapper and threw past it (the module
   * then never settles; see takeEscaped).
   */
  #module: Rejection | undefined;
  /** exit() ended the cell: what it unwound is not reported. */
  #ignored = false;

  /** Asks the sandbox to watch for handlers attached late (once the first rejection was left unhandled). */
  #watch: (() => void) | undefined;

  constructor(watch: () => void) {
    this.#watch = watch;
  }

  /** A task ended with this rejection unhandled; `beforeSettled`: the module's own, before it settled. */
  add(reason: unknown, beforeSettled: boolean): void {
    if (this.#ignored) return;
    const rejection = rejectionOf(reason);
    if (beforeSettled) this.#module = rejection;
    if (this.#unhandled.length < MAX_REPORTED) this.#unhandled.push(rejection);
    else this.#uncounted++;
    this.#watch?.();
    this.#watch = undefined;
  }

  /** The cell attached a handler to a rejection with this key: one report of it goes. */
  handled(key: string): void {
    const index = this.#unhandled.findIndex((rejection) => rejection.key === key);
    if (index < 0) return;
    this.#unhandled.splice(index, 1);
    if (this.#module?.key === key) this.#module = undefined;
  }

  /** exit() ended the cell: nothing is reported. */
  ignore(): void {
    this.#ignored = true;
  }

  /**
   * Called when nothing can resume the module (no timer, no tool call): if its first task ended
   * with a rejection, it threw past its wrapper, and that error (taken from the reports) is the cell's.
   */
  takeEscaped(): string | undefined {
    const escaped = this.#module;
    if (escaped === undefined) return undefined;
    this.#module = undefined;
    this.handled(escaped.key);
    return escaped.description;
  }

  /** One warning per rejection still unhandled: its first line and where it was made. */
  warnings(): string[] {
    if (this.#ignored) return [];
    const lines = this.#unhandled.map(({ description }) => {
      const [first = '', ...frames] = description.split('\n');
      const where = frames
        .map((frame) => /\(?([^\s()]+:\d+:\d+)\)?\s*$/.exec(frame)?.[1])
        .find((at) => at !== undefined && !at.startsWith('codecell-prelude.js'));
      return `Warning: unhandled rejection: ${first}${where === undefined ? '' : ` (${where})`}`;
    });
    if (this.#uncounted > 0) lines.push(`Warning: ${this.#uncounted} more unhandled rejection(s)`);
    return lines;
  }
}
