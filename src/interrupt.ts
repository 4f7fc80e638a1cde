// What a delegate answers a tool call with to pause its cell (SPEC §13): CellInterrupt, and the
// check that knows one whichever copy of codecell made it.
import { toolIdentifier } from './tools/tool-names.js';
import type { JsonValue, NestedToolCall } from './types.js';

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

/**
 * The CellInterrupt that asks a person to approve `call` before it is made: its payload is
 * `{ approve: 'tools.<id>', input }`. Answer it with `resumeCell(cellId, { approved: true })` (the
 * delegate then gets the call again, marked `approved`) or `{ declined: true }`.
 */
export function approvalInterrupt(call: Pick<NestedToolCall, 'tool' | 'input'>): CellInterrupt {
  return new CellInterrupt(
    { approve: `tools.${toolIdentifier(call.tool)}`, input: call.input ?? null },
    `tools.${toolIdentifier(call.tool)} waits for a person's approval`,
  );
}

/**
 * For a tool source whose framework marks tools as needing approval: throws approvalInterrupt
 * unless the call was approved already or `needsApproval` (a flag, or a function of the input)
 * says it needs none.
 */
export async function requireApproval(
  call: NestedToolCall,
  needsApproval: boolean | (() => boolean | PromiseLike<boolean>) | undefined,
): Promise<void> {
  if (call.approved === true || needsApproval === undefined || needsApproval === false) return;
  if (needsApproval === true || (await needsApproval()) === true) throw approvalInterrupt(call);
}
