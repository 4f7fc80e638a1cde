// How the framework adapters turn their framework's approvals into a person's decision on a paused
// call (SPEC §13): the model's wait on a cell paused at a call that needs approval needs the
// framework's approval; approved, the call is made (the SDK runs wait only then). Denied, the SDK
// tells the model so without running wait; the model's next wait on that cell then declines the
// call — it fails in the cell, saying a person declined it — and reports how the cell went on.
import type { CellPause, CodeModeTools, WaitInput } from '../src/index.js';

export class WaitApprovals {
  readonly #codeMode: Pick<CodeModeTools, 'paused'>;
  /** The framework's id of each wait call that asked for approval → the paused call it asked about. */
  readonly #asked = new Map<string, { cellId: string; callId: string }>();
  /** Cells whose paused call a person declined: their next wait declines it. */
  readonly #declining = new Map<string, string | undefined>();

  constructor(codeMode: Pick<CodeModeTools, 'paused'>) {
    this.#codeMode = codeMode;
  }

  /**
   * Whether this wait call (`toolCallId`) needs the framework's approval: it waits on a paused
   * cell whose pause no person declined yet. `denial(id)` says whether the framework's approval of
   * an earlier wait call was denied (with the reason, if any): undefined when it was not.
   */
  needsApproval(
    input: Partial<WaitInput>,
    toolCallId: string | undefined,
    denial: (toolCallId: string) => { reason?: string } | undefined,
  ): boolean {
    const cellId = input.cell_id;
    if (typeof cellId !== 'string' || input.terminate === true) return false;
    const pause = this.#codeMode.paused(cellId);
    if (pause === undefined) return false;
    for (const [asking, asked] of this.#asked) {
      if (asked.cellId !== cellId || asked.callId !== pause.callId) continue;
      const denied = denial(asking);
      if (denied === undefined) continue;
      this.#asked.delete(asking);
      this.#declining.set(cellId, denied.reason);
      return false;
    }
    if (toolCallId !== undefined) this.#asked.set(toolCallId, { cellId, callId: pause.callId });
    // Bounded: asks nobody answers are forgotten, oldest first.
    if (this.#asked.size > 1_024) this.#asked.delete(this.#asked.keys().next().value as string);
    return true;
  }

  /** The paused call a wait on `input.cell_id` would ask about (undefined: none). */
  pauseOf(input: Partial<WaitInput>): CellPause | undefined {
    return typeof input.cell_id === 'string' ? this.#codeMode.paused(input.cell_id) : undefined;
  }

  /** The decision wait.execute gets for a wait the framework let run: approved, declined, or none. */
  decision(input: Partial<WaitInput>): { approved: boolean; declineReason?: string } | undefined {
    const cellId = input.cell_id;
    if (typeof cellId !== 'string' || input.terminate === true) return undefined;
    if (this.#declining.has(cellId)) {
      const reason = this.#declining.get(cellId);
      this.#declining.delete(cellId);
      return { approved: false, ...(reason === undefined ? {} : { declineReason: reason }) };
    }
    // The SDK runs a wait on a paused cell only once it was approved.
    return this.#codeMode.paused(cellId) === undefined ? undefined : { approved: true };
  }
}
