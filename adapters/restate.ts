// `codecell/restate`: a cell as a Restate workflow, each nested tool call a `ctx.run` (SPEC §18,
// ADR 24). A worker that dies mid-cell loses nothing: Restate runs the workflow again, the cell
// runs again (deterministically: the same seed, clock and order of results), and each call it
// made before is read back from its journal instead of being made again. `@restatedev/restate-sdk`
// is an optional peer dependency: install it to use this entry point.
import type { WorkflowContext, WorkflowSharedContext } from '@restatedev/restate-sdk';
import { runDurableCell, type CellAnswer, type DurableCellOptions, type DurableCellResult } from '../src/index.js';
import { peerDependency } from './peer.js';
import { answerPromise, RestateSteps } from './restate-steps.js';

const restate = await peerDependency(
  () => import('@restatedev/restate-sdk'),
  'codecell/restate',
  '@restatedev/restate-sdk',
);

/** What the cell workflow is made with: a cell on an engine's options (`retries` are its runs' retry policy). */
export interface RestateCellOptions extends DurableCellOptions {
  /** The workflow's name, its path at Restate's ingress. Default `codecell`. */
  name?: string;
}

/** How a cell workflow ended: its `run` handler's result, recorded once by Restate. */
export type RestateCellResult = DurableCellResult;

/** What the workflow's `answer` handler takes: the paused call, and its answer. */
export interface RestateCellAnswer {
  /** The paused call (the `callId` of the cell's `interrupted` event). */
  callId: string;
  /** As `resumeCell` takes it: `{ approved: true }`, `{ declined: true, reason }`, `{ result }`, `{ error }`. */
  answer: CellAnswer;
}

/**
 * The cell workflow, to bind to a Restate endpoint (`restate.serve({ services: [cellWorkflow(…)] })`).
 * Its `run` handler runs one cell, its source the input, one cell per workflow id; Restate runs it
 * again after a crash, and each step is a `ctx.run` (`runDurableCell` says which steps a cell
 * takes). A call a delegate rejects with a CellInterrupt (an approval) pauses the cell on a
 * durable promise until the `answer` handler (`answerCell`) resolves it. The session's key is
 * `restate:<workflow id>`.
 */
export function cellWorkflow(options: RestateCellOptions) {
  return restate.workflow({
    name: options.name ?? 'codecell',
    handlers: {
      run: async (ctx: WorkflowContext, source: string): Promise<RestateCellResult> => {
        const steps = new RestateSteps(ctx, restate);
        try {
          return await runDurableCell(steps, options, source);
        } finally {
          await steps.close();
        }
      },
      answer: async (ctx: WorkflowSharedContext, { callId, answer }: RestateCellAnswer): Promise<void> => {
        await ctx.promise<CellAnswer>(answerPromise(callId)).resolve(answer);
      },
    },
  });
}

/**
 * Answers the call a cell workflow is paused at, through Restate's ingress (`ingress`, e.g.
 * `http://localhost:8080`): the workflow's durable promise keeps the answer, whichever worker
 * runs the cell then or after a restart. Rejects with the ingress's answer when it refuses.
 */
export async function answerCell(
  ingress: string,
  workflowId: string,
  callId: string,
  answer: CellAnswer,
  options: { name?: string } = {},
): Promise<void> {
  for (const [name, value] of Object.entries({ ingress, workflowId, callId, name: options.name ?? 'codecell' }))
    if (typeof value !== 'string' || value === '')
      throw new TypeError(`codecell/restate: answerCell's ${name} must be a non-empty string`);
  const path = `${encodeURIComponent(options.name ?? 'codecell')}/${encodeURIComponent(workflowId)}/answer`;
  const response = await fetch(new URL(path, ingress.endsWith('/') ? ingress : `${ingress}/`), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ callId, answer } satisfies RestateCellAnswer),
  });
  if (!response.ok)
    throw new Error(`codecell/restate: the ingress refused the answer: ${response.status} ${await response.text()}`);
}
