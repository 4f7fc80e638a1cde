// `codecell/dbos`: a cell as a DBOS workflow, each nested tool call a DBOS step (SPEC §18, ADR
// 24). A worker that dies mid-cell loses nothing: DBOS runs the workflow again, the cell runs
// again (deterministically: the same seed, clock and order of results), and each call it made
// before is read back from its step instead of being made again. `@dbos-inc/dbos-sdk` is an
// optional peer dependency: install it to use this entry point.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomInt } from 'node:crypto';
import {
  CellInterrupt,
  SessionRuntime,
  type CellAnswer,
  type CellEvent,
  type CellLimits,
  type JsonValue,
  type Logger,
  type NestedToolCall,
  type OutputItem,
  type SessionRuntimeDelegate,
  type ToolDefinition,
} from '../src/index.js';
import { isCellInterrupt, messageOf } from '../src/internal.js';
import { peerDependency } from './peer.js';

const { DBOS } = await peerDependency(() => import('@dbos-inc/dbos-sdk'), 'codecell/dbos', '@dbos-inc/dbos-sdk');

/** What a cell workflow is made with. */
export interface DbosCellOptions {
  /** The workflow's name: DBOS finds the workflows it runs again by it. Default `codecell.cell`. */
  name?: string;
  /**
   * The tools a cell may call. A tool marked `idempotent` is made again, with the same
   * idempotency key, when its call was under way as a worker stopped; any other such call is
   * in doubt: never made again, it fails in the cell saying so, and the result lists it.
   */
  tools: ToolDefinition[];
  /**
   * Makes each nested call, as a SessionRuntime's delegate; `notify` may be told again after a
   * crash. A call it rejects with a CellInterrupt (`approvalInterrupt(call)`) pauses the cell
   * until `answerCell` answers it, across worker restarts.
   */
  delegate: Pick<SessionRuntimeDelegate, 'invokeTool'> & Partial<Pick<SessionRuntimeDelegate, 'notify'>>;
  /** The cells' limits (over codecell's defaults). */
  limits?: Partial<CellLimits>;
  /** Where the sessions' warnings go. Default: console (stderr). */
  logger?: Logger;
  /**
   * DBOS's own retries of a failed call of an idempotent tool (its step's retry policy). None by
   * default: a failed call fails in the cell, and is recorded as failed.
   */
  retries?: { maxAttempts: number; intervalSeconds?: number; backoffRate?: number };
}

/** How a cell workflow ended: its workflow's result, recorded once by DBOS. */
export interface DbosCellResult {
  /** How the cell ended: it ran to its end (an uncaught error included), or a limit ended it. */
  kind: 'completed' | 'terminated';
  /** Everything the cell printed. */
  items: OutputItem[];
  /** A completed cell's uncaught error. */
  error?: string;
  /** What a completed cell returned at its top level. */
  result?: JsonValue;
  /** Why a terminated cell ended (a limit). */
  reason?: string;
  /** Calls under way when a worker stopped, not made again: they may or may not have taken effect. */
  inDoubt: { callId: string; tool: string }[];
}

/** What a call's step records: the call it was (to see that a run made the same one), and its outcome. */
interface CallStep {
  callId: string;
  input: string;
  outcome: { result?: JsonValue } | { error: string } | { inDoubt: true } | { interrupt: JsonValue };
}

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

/** How long one observation of the running cell waits (the cell's own limits end it). */
const OBSERVE_MS = 60_000;

/**
 * Registers the cell workflow with DBOS (before `DBOS.launch()`) and returns it: start it with
 * `DBOS.startWorkflow(runCell, { workflowID })(source)`, or call it from a workflow of yours.
 * Each nested call takes two steps, both when the cell makes it: `codecell.started <tool>`, then
 * `codecell.call <tool>`, which makes the call once the first is recorded. A run that reads the
 * first back without the second was stopped while the call was under way: it is in doubt. An
 * idempotent tool's call takes the second step only (made again whenever it has no outcome). The
 * cell's stored values are off: one cell is one workflow.
 */
export function registerCellWorkflow(options: DbosCellOptions): (source: string) => Promise<DbosCellResult> {
  const { tools, delegate, limits, logger, retries } = options;
  const idempotent = new Set(tools.filter((tool) => tool.idempotent === true).map(toolName));
  const run = async (source: string): Promise<DbosCellResult> => {
    const deterministic = await DBOS.runStep(async () => ({ seed: randomInt(0, 2 ** 32), now: Date.now() }), {
      name: 'codecell.start',
    });
    // The session calls its delegate outside the workflow's async context: each call enters it.
    const inWorkflow = AsyncLocalStorage.snapshot();
    const inDoubt: DbosCellResult['inDoubt'] = [];
    let diverged: Error | undefined;
    const steps = (call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined> => {
      const tool = toolName(call.tool);
      const input = JSON.stringify(call.input ?? null);
      // An idempotent tool's call is made again whenever it has no outcome: it needs no `started`.
      let startedNow = idempotent.has(tool);
      const started = startedNow
        ? undefined
        : DBOS.runStep(async () => ((startedNow = true), call.callId), { name: `codecell.started ${tool}` });
      const retried = idempotent.has(tool) && retries !== undefined;
      const made = DBOS.runStep(
        async (): Promise<CallStep> => {
          await started;
          if (!startedNow) return { callId: call.callId, input, outcome: { inDoubt: true } };
          try {
            return {
              callId: call.callId,
              input,
              outcome: { result: (await delegate.invokeTool(call, signal)) ?? null },
            };
          } catch (error) {
            if (isCellInterrupt(error))
              return { callId: call.callId, input, outcome: { interrupt: error.payload ?? null } };
            if (retried) throw error; // DBOS tries it again, as its policy says
            return { callId: call.callId, input, outcome: { error: messageOf(error) } };
          }
        },
        { name: `codecell.call ${tool}`, ...(retried ? { retriesAllowed: true, ...retries } : {}) },
      );
      return made.then(({ callId, input: recorded, outcome }) => {
        if (callId !== call.callId || recorded !== input) {
          diverged ??= new Error(
            `codecell/dbos: this run of the cell is not the recorded one: ${tool} (${call.callId}) was made ` +
              `with ${input}; the recorded run made ${callId} with ${recorded}`,
          );
          throw diverged;
        }
        if ('inDoubt' in outcome) {
          inDoubt.push({ callId, tool });
          throw new Error(
            `${tool} is in doubt: it was under way when a worker stopped, and it may or may not have taken effect`,
          );
        }
        if ('error' in outcome) throw new Error(outcome.error);
        if ('interrupt' in outcome) throw new CellInterrupt(outcome.interrupt); // the cell pauses again
        return outcome.result;
      });
    };
    const session = new SessionRuntime(
      {
        invokeTool: (call, signal) => inWorkflow(() => steps(call, signal)),
        notify: async (notification, signal) => delegate.notify?.(notification, signal),
      },
      {
        tools,
        deterministic,
        storedValues: 'disabled',
        key: `dbos:${DBOS.workflowID ?? 'none'}`,
        ...(limits === undefined ? {} : { limits }),
        ...(logger === undefined ? {} : { logger }),
      },
    );
    try {
      const { initialEvent } = await session.execute({ source }, { kind: 'yieldAfter', ms: OBSERVE_MS });
      let event = await initialEvent;
      const items = [...event.items];
      while (event.kind === 'yielded' || event.kind === 'pending' || event.kind === 'interrupted') {
        const observe = { kind: 'yieldAfter', ms: OBSERVE_MS } as const;
        if (event.kind === 'interrupted') {
          const answer = await answerOf(event.callId);
          event = await session.resumeCell(event.cellId, answer, observe);
        } else event = await session.observe(event.cellId, observe);
        items.push(...event.items);
      }
      if (diverged !== undefined) throw diverged;
      return resultOf(event, items, inDoubt);
    } finally {
      await session.shutdown();
    }
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

function resultOf(event: CellEvent, items: OutputItem[], inDoubt: DbosCellResult['inDoubt']): DbosCellResult {
  if (event.kind === 'completed') {
    return {
      kind: 'completed',
      items,
      ...(event.error === undefined ? {} : { error: event.error }),
      ...(event.result === undefined ? {} : { result: event.result }),
      inDoubt,
    };
  }
  if (event.kind === 'terminated')
    return { kind: 'terminated', items, ...(event.reason === undefined ? {} : { reason: event.reason }), inDoubt };
  return { kind: 'terminated', items, reason: `the cell ended ${event.kind}`, inDoubt }; // not reached
}

const toolName = (tool: { name: string; namespace?: string | undefined }): string =>
  `tools.${tool.namespace === undefined ? '' : `${tool.namespace}.`}${tool.name}`;
