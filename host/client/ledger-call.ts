// One call in a cell's ledger (cell-ledger.ts): where it stands, what the delegate did and
// answered, and whether it asked to pause the cell.
import type { CallOutcome, JsonValue, ToolCallRecord } from '../../src/index.js';

export const toolRef = ({ name, namespace }: { name: string; namespace?: string }): ToolCallRecord['tool'] =>
  namespace === undefined ? { name } : { name, namespace };

/** Where a call stands: made by the cell (journaled), served by the delegate, answered, delivered. */
type CallState = 'made' | 'served' | 'answered' | 'delivered';

export interface LedgerCall {
  readonly callId: string;
  /** Its tool: an index into the cell's tools (journaled; -1 when not), or as the delegate got it. */
  index: number;
  tool: ToolCallRecord['tool'] | undefined;
  /** Its input: as journaled (JSON text), or as served when the journal has it not. */
  inputJson: string | undefined;
  input: JsonValue | undefined;
  state: CallState;
  /** What the delegate did (SPEC §13's `toolCalls`): still working (`pending`), returned, threw. */
  outcome: ToolCallRecord['outcome'];
  /** The delegate's answer, kept only until the host's journal holds its delivery. */
  answer: CallOutcome | undefined;
  answerBytes: number;
  /**
   * The delegate asked to pause the cell at this call (a CellInterrupt's payload, JSON text): a
   * cell that runs again elsewhere pauses there in turn.
   */
  pauses?: string;
}

/** The call's input: as journaled (JSON text), or as served when the journal has it not. */
export const inputOf = (call: LedgerCall): JsonValue | undefined =>
  call.inputJson === undefined
    ? call.input
    : call.inputJson === ''
      ? undefined
      : (JSON.parse(call.inputJson) as JsonValue);
