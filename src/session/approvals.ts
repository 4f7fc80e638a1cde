// A person's decision on the call a cell paused at (SPEC §13), made into that call's outcome:
// `{ approved: true }` makes the call now — the session's delegate gets it again, marked
// `approved` — and the cell gets what it answers; `{ declined: true }` fails it in the cell with
// an error naming the tool and saying a person declined it. Both sessions (in process, remote)
// do this in the agent's process, where the delegate is.
import { invalidRequest, messageOf, notInterrupted } from '../errors.js';
import { isCellInterrupt } from '../interrupt.js';
import { toolIdentifier } from '../tools/tool-names.js';
import type { CallOutcome, CellAnswer, CellId, NestedToolCall, SessionRuntimeDelegate } from '../types.js';

/** The outcome `answer` gives the paused `call` (an approved one is made here, under `signal`). */
export async function outcomeOf(
  answer: CellAnswer,
  call: NestedToolCall,
  delegate: Pick<SessionRuntimeDelegate, 'invokeTool'>,
  signal: AbortSignal,
): Promise<CallOutcome> {
  if (!('approved' in answer) && !('declined' in answer) && !('retry' in answer)) return answer;
  const name = `tools.${toolIdentifier(call.tool)}`;
  if ('declined' in answer) {
    const reason = answer.reason === undefined || answer.reason === '' ? '' : `: ${answer.reason}`;
    return { error: `${name} was not run: a person declined this call${reason}` };
  }
  // A retry (a call in doubt) is made as it was; an approved call is marked so.
  const made = 'retry' in answer ? call : { ...call, approved: true as const };
  try {
    return { result: await delegate.invokeTool(made, signal) };
  } catch (error) {
    if (isCellInterrupt(error))
      return {
        error:
          'retry' in answer
            ? `${name} was made again, but its delegate paused the cell (answer it with { result } or { error })`
            : `${name} was approved, but its delegate paused the cell again (it should run a call marked approved)`,
      };
    return { error: messageOf(error) };
  }
}

/** The answers a session is making into outcomes, one per cell, each with a signal shutdown aborts. */
export class PendingAnswers {
  readonly #running = new Map<CellId, AbortController>();

  /**
   * The outcome a person's `answer` gives the call the cell is paused at (`paused.call`; undefined
   * when it is not paused: ERR_INVALID_REQUEST); `retry` only for a call in doubt. An approved or
   * retried call is made with `delegate` (the session's, written ahead with a store).
   */
  decide(
    cellId: CellId,
    answer: CellAnswer,
    paused: { call: NestedToolCall | undefined; inDoubt: boolean },
    delegate: Pick<SessionRuntimeDelegate, 'invokeTool'>,
  ): Promise<CallOutcome> {
    const { call } = paused;
    if (call === undefined) throw notInterrupted(cellId);
    if ('retry' in answer && !paused.inDoubt)
      throw invalidRequest(`cell ${cellId} is not paused at a call in doubt: retry is for those`);
    return this.run(cellId, (signal) => outcomeOf(answer, call, delegate, signal));
  }

  /** Runs `make` for the cell; refused while another answer to it is being made (no call made twice). */
  async run<T>(cellId: CellId, make: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#running.has(cellId))
      throw invalidRequest(`cell ${cellId} is being resumed already: its paused call is being made`);
    const controller = new AbortController();
    this.#running.set(cellId, controller);
    try {
      return await make(controller.signal);
    } finally {
      this.#running.delete(cellId);
    }
  }

  abortAll(reason: unknown): void {
    for (const controller of this.#running.values()) controller.abort(reason);
  }
}
