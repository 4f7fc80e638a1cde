// Reading a cell's outcome: whether it failed, without a new event kind (a cell that threw is
// `completed` with its error beside the output it made; a limit or a lost host ends it
// `terminated` with a reason).
import type { CellEvent, TerminationReason } from './types.js';

/** Reasons a cell was stopped on purpose: not a failure of the cell. */
const ON_PURPOSE: readonly (TerminationReason | undefined)[] = ['requested', 'shutdown', undefined];

/**
 * Why the cell failed, or undefined when it did not: its error when it threw (`completed` with
 * `error`), `terminated (<reason>)` when a limit or the loss of its host ended it. A cell
 * terminated on request or by a shutdown, or still running (`yielded`, `pending`), did not fail.
 */
export function cellFailure(event: CellEvent): string | undefined {
  if (event.kind === 'completed') return event.error;
  if (event.kind === 'terminated' && !ON_PURPOSE.includes(event.reason))
    return `terminated (${event.reason}${event.detail === undefined ? '' : `: ${event.detail}`})`;
  return undefined;
}
