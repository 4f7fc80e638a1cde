// The workflow half of `codecell/workflow` (ADR 24): what runs inside a Vercel Workflow DevKit
// workflow function. That code is replayed from the run's event log in a sandbox without Node's
// modules, so it cannot hold a cell (isolated-vm): it advances one instead. A step runs the cell
// from its start against the steps recorded so far, up to where it waits on new ones; the
// workflow takes those (each call a step of its own, each answer a hook) and advances it again
// once one is recorded. This file is what the `workflow` export condition resolves to: it
// imports nothing but `workflow`.
import { createHook } from 'workflow';
import type { CellAnswer, DurableCellResult, JsonValue, NestedToolCall } from '../src/index.js';

/** A step of the cell, recorded: its name (to see that a run takes the same one) and its value. */
export interface RecordedStep {
  name: string;
  value: JsonValue;
}

/** What the cell's run so far recorded, handed to each advance. */
export interface CellJournal {
  /** The workflow run's id: the session's key is `workflow:<runId>`, part of each idempotency key. */
  runId: string;
  /** The recorded steps by position (a step may be recorded before one at an earlier position). */
  steps: Record<string, RecordedStep>;
  /** How many notifications the delegate was told (an advance tells only the ones after these). */
  notified: number;
}

/** A step an advance took that has no recorded value: a call to make, or an answer to wait for. */
export type NewStep = { position: number; name: string } & ({ call: NestedToolCall } | { callId: string });

/** What an advance of the cell gives back: how the cell ended, or the steps it waits on. */
export type Advance =
  | { end: DurableCellResult }
  | {
      /** The quick steps it took and recorded (the cell's start, a call's `started`), by position. */
      taken: Record<string, RecordedStep>;
      /** The steps it waits on. */
      waits: NewStep[];
      notified: number;
    };

/** The step functions (`"use step"`) the workflow takes the cell's steps with. */
export interface CellStepFunctions {
  /** Runs `advanceCell(options, source, journal)`. */
  advance(source: string, journal: CellJournal): Promise<Advance>;
  /** Runs `callTool(options, call)`. */
  call(call: NestedToolCall): Promise<JsonValue>;
}

/** The token of the hook a cell paused at `callId` waits on for its answer (`answerCell`). */
export const answerToken = (runId: string, callId: string): string => `codecell:${runId}:${callId}`;

/**
 * Runs `source` as one cell from inside a workflow function (`"use workflow"`), and resolves with
 * how it ended (as `runDurableCell` does). `runId` is the workflow run's
 * (`getWorkflowMetadata().workflowRunId`); `steps` are your two step functions.
 */
export async function cellLoop(runId: string, source: string, steps: CellStepFunctions): Promise<DurableCellResult> {
  for (const [name, value] of Object.entries({ runId, source }))
    if (typeof value !== 'string' || (name === 'runId' && value === ''))
      throw new TypeError(
        `codecell/workflow: cellLoop's ${name} must be a${name === 'runId' ? ' non-empty' : ''} string`,
      );
  if (typeof steps?.advance !== 'function' || typeof steps.call !== 'function')
    throw new TypeError("codecell/workflow: cellLoop's steps must be { advance, call }, your two step functions");
  const journal: CellJournal = { runId, steps: {}, notified: 0 };
  const waiting = new Map<number, Promise<{ position: number; step: RecordedStep }>>();
  for (;;) {
    const advanced = await steps.advance(source, journal);
    if ('end' in advanced) return advanced.end;
    Object.assign(journal.steps, advanced.taken);
    journal.notified = advanced.notified;
    for (const step of advanced.waits) {
      if (waiting.has(step.position)) continue;
      const value = 'call' in step ? made(step.call, steps) : answered(runId, step.callId);
      waiting.set(
        step.position,
        value.then((value) => ({ position: step.position, step: { name: step.name, value } })),
      );
    }
    const { position, step } = await Promise.race(waiting.values());
    waiting.delete(position);
    journal.steps[position] = step;
  }
}

/** A call's step: the call step function's record, or (its retries spent) the failure as its outcome. */
function made(call: NestedToolCall, steps: CellStepFunctions): Promise<JsonValue> {
  return steps.call(call).catch((error: unknown) => ({
    callId: call.callId,
    input: JSON.stringify(call.input ?? null),
    outcome: { error: error instanceof Error ? error.message : String(error) },
  }));
}

/** The answer sent to the call paused at `callId`, through its hook. */
async function answered(runId: string, callId: string): Promise<JsonValue> {
  const hook = createHook<CellAnswer>({ token: answerToken(runId, callId) });
  return (await hook) as JsonValue;
}
