// What a delegate answers a tool call with to pause its cell (SPEC §13): CellInterrupt, and the
// check that knows one whichever copy of codecell made it.
import type { JsonValue } from './types.js';

const INTERRUPT_BRAND = Symbol.for('codecell.CellInterrupt');

/**
 * What a delegate rejects a tool call with to pause its cell (SPEC §13), e.g. until a person
 * approves the call: the cell's observation ends `{ kind: 'interrupted', payload, … }` and
 * `resumeCell(cellId, answer)` later gives the call its outcome. `payload` must be JSON.
 */
export class CellInterrupt extends Error {
  override readonly name = 'CellInterrupt';
  readonly payload: JsonValue;

  constructor(payload: JsonValue, message = 'the cell is paused until resumeCell answers this tool call') {
    super(message);
    this.payload = payload;
    Object.defineProperty(this, INTERRUPT_BRAND, { value: true });
  }
}

/** True for a CellInterrupt, also one made by another copy of codecell; never throws. */
export function isCellInterrupt(error: unknown): error is CellInterrupt {
  try {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[INTERRUPT_BRAND] === true;
  } catch {
    return false;
  }
}
