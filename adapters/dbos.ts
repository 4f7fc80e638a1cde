// `codecell/dbos`: a cell as a DBOS workflow, each nested tool call a DBOS step (SPEC §18, ADR
// 24). A worker that dies mid-cell loses nothing: DBOS runs the workflow again, the cell runs
// again (deterministically: the same seed, clock and order of results), and each call it made
// before is read back from its step instead of being made again. `@dbos-inc/dbos-sdk` is an
// optional peer dependency: install it to use this entry point.
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  runDurableCell,
  type CellAnswer,
  type DurableCellOptions,
  type DurableCellResult,
  type DurableSteps,
} from '../src/index.js';
import { peerDependency } from './peer.js';

const { DBOS } = await peerDependency(() => import('@dbos-inc/dbos-sdk'), 'codecell/dbos', '@dbos-inc/dbos-sdk');

/** What a cell workflow is made with: a cell on an engine's options (`retries` are its steps' retry policy). */
export interface DbosCellOptions extends DurableCellOptions {
  /** The workflow's name: DBOS finds the workflows it runs again by it. Default `codecell.cell`. */
  name?: string;
}

/** How a cell workflow ended: its workflow's result, recorded once by DBOS. */
export type DbosCellResult = DurableCellResult;

/** The topic a paused call's answer is sent on (DBOS.send / DBOS.recv). */
const answerTopic = (callId: string): string => `codecell.answer ${callId}`;

/** How long one DBOS.recv waits for an answer before it waits again (seconds). */
const ANSWER_WAIT_S = 3_600;

/**
 * Answers the call a cell workflow is paused at (a delegate's CellInterrupt: an approval): the
 * workflow takes it with `DBOS.recv`, whichever worker runs it, then or after a restart, and the
 * cell goes on as `resumeCell(cellId, answer)` would take it. From any process with DBOS launched.
 */
export async function answerCell(workflowID: string, callId: string, answer: CellAnswer): Promise<void> {
  await DBOS.send(workflowID, answer, answerTopic(callId));
}

/**
 * Registers the cell workflow with DBOS (before `DBOS.launch()`) and returns it: start it with
 * `DBOS.startWorkflow(runCell, { workflowID })(source)`, or call it from a workflow of yours.
 * Each step is a `DBOS.runStep` (`runDurableCell` says which steps a cell takes); the session's
 * key is `dbos:<workflowID>`.
 */
export function registerCellWorkflow(options: DbosCellOptions): (source: string) => Promise<DbosCellResult> {
  const run = async (source: string): Promise<DbosCellResult> => {
    // The session calls its delegate outside the workflow's async context: each step enters it.
    const inWorkflow = AsyncLocalStorage.snapshot();
    const steps: DurableSteps = {
      runId: `dbos:${DBOS.workflowID ?? 'none'}`,
      step: (name, step, { retries } = {}) =>
        inWorkflow(() =>
          DBOS.runStep(step, { name, ...(retries === undefined ? {} : { retriesAllowed: true, ...retries }) }),
        ),
      answer: (callId) => inWorkflow(() => answerOf(callId)),
    };
    return runDurableCell(steps, options, source);
  };
  return DBOS.registerWorkflow(run, { name: options.name ?? 'codecell.cell' });
}

/** The answer sent for a paused call (answerCell): a step of the workflow, read back on a run again. */
async function answerOf(callId: string): Promise<CellAnswer> {
  for (;;) {
    const answer = await DBOS.recv<CellAnswer>(answerTopic(callId), ANSWER_WAIT_S);
    if (answer !== null) return answer;
  }
}
