// A cell run on a durable-execution engine (SPEC §18, ADR 24): the engine-neutral half of every
// engine adapter. The engine keeps what codecell needs through one small seam, `DurableSteps`
// (a step at a position, read back on a run again; an answer waited for durably), and this file
// keeps what codecell enforces on top of it: the cell runs deterministically (the seed and clock
// of its first step, results in the order their calls were made), each nested call is a step
// taken when the cell makes it, a call under way when a worker died is made again only if its
// tool is idempotent (else it is in doubt), and a run that is not the recorded one is caught.
import { randomInt } from 'node:crypto';
import { abortable } from 'abort-controller-x';
import type { CellLimits } from '../limits.js';
import { messageOf } from '../errors.js';
import { CellInterrupt, isCellInterrupt } from '../interrupt.js';
import { SessionRuntime } from '../session/session-runtime.js';
import type {
  CellAnswer,
  CellEvent,
  JsonValue,
  Logger,
  NestedToolCall,
  ObserveMode,
  OutputItem,
  SessionRuntimeDelegate,
  ToolDefinition,
} from '../types.js';

/** How a step is taken (`DurableSteps.step`). */
export interface StepOptions {
  /** The engine's retries when `run` throws (an idempotent tool's call only); without, `run` does not throw. */
  retries?: StepRetries;
  /**
   * The step's `run` makes no call and returns at once (the cell's start, a call's `started`):
   * an engine that needs to make room for steps taken while a step runs need not for this one.
   */
  quick?: boolean;
  /**
   * A call step's call: an engine that makes each call in a step of its own, apart from the run
   * of the cell (`AdvancingSteps`), makes it from this with `makeCall`.
   */
  call?: NestedToolCall;
}

/** An engine's retries of a failed step (an idempotent tool's call only). */
export interface StepRetries {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Seconds before the first retry. */
  intervalSeconds?: number;
  /** How much each wait grows over the one before. */
  backoffRate?: number;
}

/**
 * What codecell needs from a durable-execution engine to run a cell on it (ADR 24). An adapter
 * makes one per run of the cell's workflow, inside it.
 */
export interface DurableSteps {
  /** The workflow's id: the session's key, and so part of each call's idempotency key. */
  readonly runId: string;
  /**
   * Runs `run` as the engine's step named `name` at the next position of the workflow, taken now
   * (synchronously: positions follow the cell's own order of calls). On a run again, a recorded
   * step resolves with its recorded value and `run` is not called.
   */
  step<T extends JsonValue>(name: string, run: () => Promise<T>, options?: StepOptions): Promise<T>;
  /** Waits, durably (a position like a step), for the answer sent to the call paused at `callId`. */
  answer(callId: string): Promise<CellAnswer>;
  /** Aborted when the engine ends this attempt of the workflow (it will run it again): the cell stops. */
  readonly ended?: AbortSignal;
}

/**
 * The seam of an engine that cannot keep a cell running while its steps run (its workflow code is
 * replayed from the engine's log and cannot load isolated-vm: Vercel Workflow, Temporal; ADR 24).
 * Each run of the cell, from its start against the steps recorded so far, stops where it waits
 * on steps taken but not recorded (`advanceDurableCell`); the engine then takes those steps (a
 * call step's `run` is not called: the engine makes `options.call` in a step of its own) and
 * runs the cell again once one of them is recorded.
 */
export interface AdvancingSteps extends DurableSteps {
  /** How many steps (answers included) this run has taken that have no recorded value. */
  unrecorded(): number;
}

/** What a cell on an engine is made with. */
export interface DurableCellOptions {
  /**
   * The tools a cell may call. A tool marked `idempotent` is made again, with the same
   * idempotency key, when its call was under way as a worker stopped; any other such call is
   * in doubt: never made again, it fails in the cell saying so, and the result lists it.
   */
  tools: ToolDefinition[];
  /**
   * Makes each nested call, as a SessionRuntime's delegate; `notify` may be told again after a
   * crash. A call it rejects with a CellInterrupt (`approvalInterrupt(call)`) pauses the cell
   * until the engine's answer comes, across worker restarts.
   */
  delegate: Pick<SessionRuntimeDelegate, 'invokeTool'> & Partial<Pick<SessionRuntimeDelegate, 'notify'>>;
  /** The cells' limits (over codecell's defaults). */
  limits?: Partial<CellLimits>;
  /** Where the sessions' warnings go. Default: console (stderr). */
  logger?: Logger;
  /**
   * The engine's own retries of a failed call of an idempotent tool. None by default: a failed
   * call fails in the cell, and is recorded as failed.
   */
  retries?: StepRetries;
}

/** How a cell on an engine ended: its workflow's result, recorded once by the engine. */
export interface DurableCellResult {
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
export type CallStep = {
  callId: string;
  input: string;
  outcome: { result: JsonValue } | { error: string } | { inDoubt: true } | { interrupt: JsonValue };
};

/** How long one observation of the running cell waits (the cell's own limits end it). */
const OBSERVE_MS = 60_000;

/**
 * Runs `source` as one cell on the engine behind `steps`, from inside the engine's workflow, and
 * resolves with how it ended. The first step records the cell's seed and clock. Each nested
 * call takes two steps when the cell makes it: `codecell.started <tool>`, then `codecell.call
 * <tool>`, which makes the call once the first is recorded; a run that reads the first back
 * without the second was stopped while the call was under way: it is in doubt. An idempotent
 * tool's call takes the second step only (made again whenever it has no outcome). The cell's
 * stored values are off: one cell is one workflow.
 */
export async function runDurableCell(
  steps: DurableSteps,
  options: DurableCellOptions,
  source: string,
): Promise<DurableCellResult> {
  return (await runOn(steps, options, source, undefined)) as DurableCellResult;
}

/**
 * Runs `source` from its start against the steps recorded so far on an engine that advances a
 * cell (`AdvancingSteps`): resolves with how the cell ended, or with `undefined` where it waits
 * on steps this run took that have no recorded value yet (the engine takes them, then runs the
 * cell again). The steps are those of `runDurableCell`, at the same positions.
 */
export async function advanceDurableCell(
  steps: AdvancingSteps,
  options: DurableCellOptions,
  source: string,
): Promise<DurableCellResult | undefined> {
  return runOn(steps, options, source, () => steps.unrecorded());
}

/**
 * Makes `call` through `delegate`, as a call step does, and says how it went: its result, its
 * error, or the pause a CellInterrupt asks for. With `retried`, a failure is thrown instead, for
 * the engine to try the step again as its policy says.
 */
export async function makeCall(
  delegate: DurableCellOptions['delegate'],
  call: NestedToolCall,
  signal: AbortSignal,
  retried: boolean,
): Promise<CallStep> {
  const recorded = (outcome: CallStep['outcome']): CallStep => ({
    callId: call.callId,
    input: JSON.stringify(call.input ?? null),
    outcome,
  });
  try {
    return recorded({ result: (await delegate.invokeTool(call, signal)) ?? null });
  } catch (error) {
    if (isCellInterrupt(error)) return recorded({ interrupt: error.payload ?? null });
    if (retried) throw error;
    return recorded({ error: messageOf(error) });
  }
}

/** A call step's record for a call that was under way when a worker stopped: never made again. */
export const inDoubtStep = (call: NestedToolCall): CallStep => ({
  callId: call.callId,
  input: JSON.stringify(call.input ?? null),
  outcome: { inDoubt: true },
});

/** The tools of `options` whose calls are made again when in doubt. */
export const idempotentTools = (options: DurableCellOptions): Set<string> =>
  new Set(options.tools.filter((tool) => tool.idempotent === true).map(toolName));

/** The name a call's steps carry: `tools.<namespace>.<name>`. */
export const toolName = (tool: { name: string; namespace?: string | undefined }): string =>
  `tools.${tool.namespace === undefined ? '' : `${tool.namespace}.`}${tool.name}`;

/** runDurableCell, or with `unrecorded` advanceDurableCell (`undefined`: it waits on new steps). */
async function runOn(
  steps: DurableSteps,
  options: DurableCellOptions,
  source: string,
  unrecorded: (() => number) | undefined,
): Promise<DurableCellResult | undefined> {
  const { tools, delegate, limits, logger, retries } = options;
  const idempotent = idempotentTools(options);
  const deterministic = await steps.step(
    'codecell.start',
    async () => ({ seed: randomInt(0, 2 ** 32), now: Date.now() }),
    { quick: true },
  );
  const inDoubt: DurableCellResult['inDoubt'] = [];
  let diverged: Error | undefined;
  /** Advancing: resolved when a call takes a step that has no recorded value. */
  const tookNewStep = Promise.withResolvers<undefined>();

  const callSteps = (call: NestedToolCall, signal: AbortSignal): Promise<JsonValue> => {
    const tool = toolName(call.tool);
    const input = JSON.stringify(call.input ?? null);
    // An idempotent tool's call is made again whenever it has no outcome: it needs no `started`.
    let startedNow = idempotent.has(tool);
    const started = startedNow
      ? undefined
      : steps.step(`codecell.started ${tool}`, async () => ((startedNow = true), call.callId), { quick: true });
    const retried = idempotent.has(tool) && retries !== undefined;
    const before = unrecorded?.();
    const made = steps.step(
      `codecell.call ${tool}`,
      async (): Promise<CallStep> => {
        await started;
        return startedNow ? makeCall(delegate, call, signal, retried) : inDoubtStep(call);
      },
      retried ? { retries, call } : { call },
    );
    if (unrecorded !== undefined && unrecorded() !== before) tookNewStep.resolve(undefined);
    const outcome = made.then(({ callId, input: made, outcome }) => {
      if (callId !== call.callId || made !== input) {
        diverged ??= new Error(
          `codecell: this run of the cell is not the recorded one: ${tool} (${call.callId}) was made ` +
            `with ${input}; the recorded run made ${callId} with ${made}`,
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
    // Advancing, a step not recorded never settles in this run: the session's end ends its wait.
    return unrecorded === undefined ? outcome : abortable(signal, outcome);
  };

  const session = new SessionRuntime(
    {
      invokeTool: callSteps,
      notify: async (notification, signal) => delegate.notify?.(notification, signal),
    },
    {
      tools,
      deterministic,
      storedValues: 'disabled',
      key: steps.runId,
      ...(limits === undefined ? {} : { limits }),
      ...(logger === undefined ? {} : { logger }),
    },
  );
  const ended = steps.ended;
  const stop = (): void => void session.shutdown();
  ended?.addEventListener('abort', stop, { once: true });
  try {
    // Advancing, each observation returns once the cell waits only on calls (and timers).
    const observe: ObserveMode = unrecorded === undefined ? { kind: 'yieldAfter', ms: OBSERVE_MS } : FRONTIER;
    const { initialEvent } = await session.execute({ source }, observe);
    let event = await initialEvent;
    const items = [...event.items];
    while (event.kind === 'yielded' || event.kind === 'pending' || event.kind === 'interrupted') {
      if (event.kind === 'interrupted') {
        const before = unrecorded?.();
        const answer = steps.answer(event.callId);
        if (unrecorded !== undefined && unrecorded() !== before) return undefined; // not answered yet
        const resumed = session.resumeCell(event.cellId, await answer, observe);
        // An approved call is made before the cell resumes: advancing, it is a step not recorded yet.
        const next = unrecorded === undefined ? await resumed : await Promise.race([resumed, tookNewStep.promise]);
        if (next === undefined) return void resumed.catch(() => {});
        event = next;
      } else if (unrecorded !== undefined && unrecorded() > 0) {
        return undefined; // it waits on a step not recorded yet (or on one that waits behind it)
      } else event = await session.observe(event.cellId, observe);
      items.push(...event.items);
    }
    if (diverged !== undefined) throw diverged;
    if (ended?.aborted === true) throw new Error('codecell: the engine ended this attempt of the cell');
    return resultOf(event, items, inDoubt);
  } finally {
    ended?.removeEventListener('abort', stop);
    await session.shutdown();
  }
}

const FRONTIER = { kind: 'pendingFrontier' } as const;

function resultOf(event: CellEvent, items: OutputItem[], inDoubt: DurableCellResult['inDoubt']): DurableCellResult {
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
