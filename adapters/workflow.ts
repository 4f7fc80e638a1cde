// `codecell/workflow`: a cell on Vercel's Workflow DevKit, each nested tool call a step
// (`"use step"`) of its own (SPEC §18, ADR 24). A worker that dies mid-cell loses nothing: the
// DevKit runs the workflow again, and each call the cell made before is read back from its step
// instead of being made again. The workflow function cannot load isolated-vm, so the cell is
// advanced by steps (workflow-loop.ts); this half runs in those steps. `workflow` is an optional
// peer dependency: install it to use this entry point.
import {
  advanceDurableCell,
  idempotentTools,
  inDoubtStep,
  makeCall,
  toolName,
  type AdvancingSteps,
  type CallStep,
  type DurableCellOptions,
  type StepOptions,
} from '../src/durable/durable-cell.js';
import type { CellAnswer, JsonValue, NestedToolCall } from '../src/index.js';
import { peerDependency } from './peer.js';
import { answerToken, type Advance, type CellJournal, type NewStep, type RecordedStep } from './workflow-loop.js';

export {
  cellLoop,
  answerToken,
  type Advance,
  type CellJournal,
  type CellStepFunctions,
  type NewStep,
  type RecordedStep,
} from './workflow-loop.js';

const workflow = await peerDependency(() => import('workflow'), 'codecell/workflow', 'workflow');
const api = await peerDependency(() => import('workflow/api'), 'codecell/workflow', 'workflow');

/** What a cell on the DevKit is made with: a cell on an engine's options (`retries`: an idempotent call's). */
export type WorkflowCellOptions = DurableCellOptions;

/**
 * Your advance step's body (`async function advance(source, journal) { "use step"; return
 * advanceCell(options, source, journal); }`): runs the cell from its start against `journal`,
 * up to where it waits on steps not recorded yet, and says which; or says how it ended.
 */
export async function advanceCell(
  options: WorkflowCellOptions,
  source: string,
  journal: CellJournal,
): Promise<Advance> {
  if (
    typeof journal?.runId !== 'string' ||
    typeof journal.steps !== 'object' ||
    journal.steps === null ||
    typeof journal.notified !== 'number'
  )
    throw new TypeError("codecell/workflow: advanceCell's journal must be the one cellLoop hands its advance step");
  const steps = new JournalSteps(journal);
  let notified = 0;
  const delegate: WorkflowCellOptions['delegate'] = {
    invokeTool: () => Promise.reject(new Error('codecell/workflow: a call is made in its own step')),
    // The advances before this one told the delegate of the notifications they got to.
    notify: async (notification, signal) => {
      if (++notified > journal.notified) await options.delegate.notify?.(notification, signal);
    },
  };
  const end = await advanceDurableCell(steps, { ...options, delegate }, source);
  if (steps.diverged !== undefined) throw new workflow.FatalError(steps.diverged);
  if (end !== undefined) return { end };
  return { taken: steps.taken, waits: steps.waits, notified: Math.max(notified, journal.notified) };
}

/**
 * Your call step's body (`async function call(call) { "use step"; return callTool(options, call);
 * }`): makes one nested call through the delegate and records its outcome. A call of a tool not
 * marked `idempotent` that the DevKit delivers again (its worker stopped while it was under way)
 * is in doubt: not made again. An idempotent tool's call is made again, with the same key.
 */
export async function callTool(options: WorkflowCellOptions, call: NestedToolCall): Promise<CallStep> {
  const { attempt } = workflow.getStepMetadata();
  const idempotent = idempotentTools(options).has(toolName(call.tool));
  if (!idempotent && attempt > 1) return inDoubtStep(call);
  const { retries } = options;
  const retried = idempotent && retries !== undefined && attempt < retries.maxAttempts;
  try {
    return await makeCall(options.delegate, call, new AbortController().signal, retried);
  } catch (error) {
    // Only a call that is tried again throws: the DevKit retries it after the policy's wait.
    const seconds = (retries?.intervalSeconds ?? 1) * (retries?.backoffRate ?? 1) ** (attempt - 1);
    throw new workflow.RetryableError(error instanceof Error ? error.message : String(error), {
      retryAfter: Math.round(seconds * 1_000),
    });
  }
}

/**
 * Answers the call the cell of workflow run `runId` is paused at (a delegate's CellInterrupt: an
 * approval), through its hook: the cell goes on as `resumeCell(cellId, answer)` would take it,
 * whichever worker runs it. Rejects (the DevKit's HookNotFoundError) while the run has not
 * reached the pause yet.
 */
export async function answerCell(runId: string, callId: string, answer: CellAnswer): Promise<void> {
  for (const [name, value] of Object.entries({ runId, callId }))
    if (typeof value !== 'string' || value === '')
      throw new TypeError(`codecell/workflow: answerCell's ${name} must be a non-empty string`);
  if (typeof answer !== 'object' || answer === null)
    throw new TypeError("codecell/workflow: answerCell's answer must be an object");
  await api.resumeHook(answerToken(runId, callId), answer as JsonValue);
}

/** The seam on a journal: recorded steps are read back; new quick steps are taken; others are waited on. */
class JournalSteps implements AdvancingSteps {
  readonly runId: string;
  readonly taken: Record<string, RecordedStep> = {};
  readonly waits: NewStep[] = [];
  diverged: string | undefined;
  #position = 0;

  constructor(private readonly journal: CellJournal) {
    this.runId = `workflow:${journal.runId}`;
  }

  step<T extends JsonValue>(name: string, run: () => Promise<T>, options: StepOptions = {}): Promise<T> {
    const position = this.#position++;
    const recorded = this.#recorded(position, name);
    if (recorded !== undefined) return recorded as Promise<T>;
    if (options.quick === true) return run().then((value) => ((this.taken[position] = { name, value }), value));
    if (options.call === undefined) throw new Error(`codecell/workflow: step ${name} has no call to make`);
    this.waits.push({ position, name, call: options.call });
    return new Promise<T>(() => {}); // the workflow makes the call; the next advance reads it
  }

  answer(callId: string): Promise<CellAnswer> {
    const position = this.#position++;
    const name = `codecell.answer ${callId}`;
    const recorded = this.#recorded(position, name);
    if (recorded !== undefined) return recorded as Promise<CellAnswer>;
    this.waits.push({ position, name, callId });
    return new Promise<CellAnswer>(() => {});
  }

  unrecorded(): number {
    return this.waits.length + (this.diverged === undefined ? 0 : 1);
  }

  #recorded(position: number, name: string): Promise<JsonValue> | undefined {
    const step = this.journal.steps[position];
    if (step === undefined) return undefined;
    if (step.name !== name) {
      this.diverged ??=
        `codecell: this run of the cell is not the recorded one: its step ${position} is ${name}; ` +
        `the recorded run's is ${step.name}`;
      return new Promise(() => {}); // the run is stopped where it left the recorded one
    }
    return Promise.resolve(step.value);
  }
}
