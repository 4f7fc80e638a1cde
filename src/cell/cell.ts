// One cell (CellRun, cell-run.ts, is its run and its end) that a CellInterrupt can pause and that
// runs again from its journal: in a new isolate when it is resumed (resumeCell), as the same Cell
// — its calls and observers carry on; on another host when its own was lost (rerun); and restored
// paused from a snapshot. What a host mirrors of it, and a snapshot keeps, is read here too.
import { CodeCellError, notInterrupted } from '../errors.js';
import type { CellRunIsolate } from '../isolate/cell-isolate.js';
import type { CallOutcome, CellEvent, JsonValue, NestedToolCall } from '../types.js';
import { toolIdentifier } from '../tools/tool-names.js';
import { CellRun } from './cell-run.js';
import type { JournalMark } from './journal.js';
import { isUnended, transition } from './lifecycle.js';
import type { PausedState, Program } from './cell-journaling.js';
import type { CellOptions } from './options.js';
import { idempotencyKey, type CellTool, type ListedCalls, type PausedCall } from './tool-calls.js';
import type { TraceSpan } from '../tracing.js';

export class Cell extends CellRun {
  /**
   * Calls that asked to pause the cell while it was paused (or replaying): once it runs again and
   * waits, it pauses at the first, and so on — each is settled on its own (resumeCell).
   */
  readonly #queued: QueuedPause[] = [];

  /** True while a CellInterrupt has the cell paused (resume runs it again). */
  get isInterrupted(): boolean {
    return this.state.phase === 'interrupted';
  }

  /** The call a CellInterrupt paused the cell at, as its delegate got it (undefined unless paused). */
  get pausedCall(): NestedToolCall | undefined {
    const { state } = this;
    if (state.phase !== 'interrupted' || state.event.kind !== 'interrupted') return undefined;
    const { callId, tool, input } = state.event;
    const kind = this.options.tools.find((each) => each.id === toolIdentifier(tool))?.kind;
    return { cellId: this.id, callId, tool, kind: kind ?? 'function', input, idempotencyKey: this.#keyOf(callId) };
  }

  /** The interrupted event the cell is paused with (undefined unless paused). */
  get pausedEvent(): Extract<CellEvent, { kind: 'interrupted' }> | undefined {
    const { state } = this;
    return state.phase === 'interrupted' && state.event.kind === 'interrupted' ? state.event : undefined;
  }

  /** True while the cell is paused at a call a recovery found in doubt. */
  get pausedInDoubt(): boolean {
    const { state } = this;
    return state.phase === 'interrupted' && state.event.kind === 'interrupted' && state.event.reason === 'inDoubt';
  }

  #keyOf(callId: string): string {
    return idempotencyKey(this.options.sessionKey, this.id, callId);
  }

  /** How many output items the cell made, all its runs told (its journal counts them). */
  get outputsMade(): number {
    return this.durability.journal.outputs;
  }

  /** What the cell holds while it waits with no isolate (paused): its journal and its code. */
  get heldBytes(): number {
    return this.durability.journal.bytes + (this.durability.program?.source.length ?? 0);
  }

  /**
   * A delegate answered `call` with a CellInterrupt: the cell pauses — its isolate freed, its
   * timers and time limits stopped, its other calls left to finish (their outcomes are kept) —
   * and its observer hears `interrupted`. When the cell cannot pause, says why (the call fails).
   */
  protected override interrupt(call: PausedCall, payload: unknown, inDoubt?: true): string | undefined {
    const running = this.state;
    // Paused already, or running again from its journal: it pauses at this call next, in turn.
    if (running.phase === 'interrupted' || (running.phase === 'running' && this.durability.replaying)) {
      const accepted = this.durability.pauseRefusal(this.options.limits, payload, true);
      if ('why' in accepted) return accepted.why;
      this.#queued.push({ callId: call.callId, payload: accepted.payload, ...(inDoubt ? { inDoubt } : {}) });
      this.durability.callChanged();
      return undefined;
    }
    if (running.phase !== 'running') return 'the cell is no longer running';
    const accepted = this.durability.pauseRefusal(this.options.limits, payload);
    if ('why' in accepted) return accepted.why;
    const doubt = inDoubt ? { reason: 'inDoubt' as const, idempotencyKey: this.#keyOf(call.callId) } : {};
    const told = { kind: 'interrupted' as const, cellId: this.id, ...call, payload: accepted.payload, ...doubt };
    const event: CellEvent = { ...told, items: this.output.drain() };
    this.state = transition(running, { phase: 'interrupted', callId: call.callId, event });
    this.stopIsolate(true);
    this.durability.paused(event);
    this.endSpan(event);
    this.options.emit({ type: 'paused', event: told });
    if (this.observer.busy) this.observer.resolve(this.durability.takePaused(event));
    this.options.onPause(true);
    return undefined;
  }

  /** The cell runs live again and waits: it pauses at the next call that asked to, if any. */
  protected override pauseQueued(): boolean {
    for (let next = this.#queued.shift(); next !== undefined; next = this.#queued.shift()) {
      const recorded = this.durability.journal.call(next.callId);
      const tool = recorded === undefined ? undefined : this.options.tools[recorded.index];
      if (recorded === undefined || tool === undefined || !this.toolCalls.pending.includes(next.callId)) continue;
      const input = JSON.parse(recorded.inputJson || 'null') as JsonValue;
      const call = { callId: next.callId, tool: { name: tool.definition.name, ...namespaceOf(tool) }, input };
      const refused = this.interrupt(call, next.payload, next.inDoubt);
      if (refused === undefined) return true;
      this.toolCalls.answer(next.callId, tool.id, {
        error: `tools.${tool.id} asked to pause the cell, but ${refused}`,
      });
    }
    return false;
  }

  /** The calls waiting to pause the cell in turn (a snapshot keeps them). */
  get queuedPauses(): readonly QueuedPause[] {
    return this.#queued;
  }

  /**
   * Makes this new cell the paused one a snapshot held (SessionRuntime.resume): it waits, with no
   * isolate, for resume() to run `program` from its journal.
   */
  restorePaused(
    paused: Omit<PausedState, 'journal'>,
    outstanding: readonly string[] = [],
    queued: readonly QueuedPause[] = [],
  ): void {
    const running = this.state;
    if (running.phase !== 'running' || paused.event.kind !== 'interrupted') return;
    this.durability.restore(paused);
    this.toolCalls.restorePaused(paused.event.callId);
    for (const each of queued) {
      this.toolCalls.restorePaused(each.callId);
      this.#queued.push(each);
    }
    // Calls still in flight where it paused (a host that was lost): their outcomes are held for it.
    for (const callId of outstanding) this.toolCalls.restorePaused(callId);
    this.state = transition(running, { phase: 'interrupted', callId: paused.event.callId, event: paused.event });
    this.options.onPause(true);
  }

  /** A paused cell as a snapshot keeps it, or undefined when the cell is not paused. */
  pausedState():
    (PausedState & { queued: QueuedPause[] } & Pick<CellOptions, 'toolCallId' | 'tools' | 'limits'>) | undefined {
    const paused = this.state.phase === 'interrupted' && this.durability.pausedState(this.state.event);
    const { toolCallId, tools, limits } = this.options;
    return paused ? { ...paused, queued: [...this.#queued], toolCallId, tools, limits } : undefined;
  }

  /**
   * While the cell runs, its journal and what it runs (no program once it cannot run again from
   * them): what a host mirrors to its client.
   */
  runState():
    | (Pick<PausedState, 'journal'> & { program: Program | undefined; given: JournalMark | undefined } & Pick<
          CellOptions,
          'toolCallId' | 'tools' | 'limits'
        >)
    | undefined {
    const { program, journal, given } = this.durability;
    if (!isUnended(this.state)) return undefined;
    const { toolCallId, tools, limits } = this.options;
    return { program, journal, given, toolCallId, tools, limits };
  }

  /**
   * Resolves once a paused cell has no tool call in flight but the one it paused at (their
   * outcomes are held for its next run); `abort` cancels them (they fail with ERR_CANCELLED).
   */
  async callsSettled(signal?: AbortSignal): Promise<void> {
    const abort = (): void =>
      this.callbacks.abort(new CodeCellError('ERR_CANCELLED', `cell ${this.id} was suspended`), ['tool']);
    if (signal?.aborted === true) abort();
    else signal?.addEventListener('abort', abort, { once: true });
    try {
      // The calls waiting to pause it are not in flight: their delegates answered.
      while (this.state.phase === 'interrupted' && this.toolCalls.outstanding > 1 + this.#queued.length)
        await this.durability.whenCallsChange();
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  /**
   * Runs an interrupted cell again in `isolate` from its journal, with `answer` as the outcome of
   * the call it paused at (resumeCell). Throws ERR_INVALID_REQUEST when the cell is not interrupted.
   */
  resume(isolate: CellRunIsolate, answer: CallOutcome, span?: TraceSpan): void {
    const interrupted = this.state;
    const program = interrupted.phase === 'interrupted' ? this.durability.replay() : undefined;
    if (interrupted.phase !== 'interrupted' || program === undefined) {
      isolate.dispose();
      throw notInterrupted(this.id);
    }
    this.isolate = isolate;
    this.span = span;
    this.listen(isolate);
    this.rejections = this.newRejections();
    this.writes.clear();
    this.state = transition(interrupted, { phase: 'running' });
    this.options.onPause(false);
    const paused = interrupted.event.kind === 'interrupted' ? interrupted.event.tool : { name: 'tool' };
    this.options.emit({ type: 'resumed', callId: interrupted.callId });
    this.toolCalls.answer(interrupted.callId, paused.name, answer);
    this.run(program.source, program.filename, program.config);
    this.durability.advance();
  }

  /**
   * Runs this new cell from the journal of a run on a host that was lost (SessionRuntime's
   * replayCell): the calls still in flight there (`outstanding`) are answered by answerCall;
   * `approved`: calls it makes again that a person approved (made marked so).
   */
  rerun(
    program: Program,
    outstanding: readonly string[],
    queued: readonly QueuedPause[] = [],
    approved: readonly string[] = [],
  ): void {
    this.durability.rerun(program);
    this.toolCalls.approvedAlready(approved);
    for (const callId of outstanding) this.toolCalls.restorePaused(callId);
    // Calls that asked to pause it there: it pauses at each in turn here, once it runs live and waits.
    for (const each of queued) {
      this.toolCalls.restorePaused(each.callId);
      this.#queued.push(each);
    }
    this.run(program.source, program.filename, program.config);
    this.durability.advance();
  }

  /**
   * Ends this new cell as one its agent process lost and a recovery could not run again (SPEC
   * §16): terminated, `agentLost`, with the calls its log kept.
   */
  lose(calls: ListedCalls, detail: string): void {
    this.terminateWith('agentLost', detail, calls);
  }

  /** The outcome of a call in flight when the cell's earlier run was lost (see rerun). */
  answerCall(callId: string, answer: CallOutcome): void {
    const recorded = this.durability.journal.call(callId);
    const tool = recorded === undefined ? undefined : this.options.tools[recorded.index];
    if (tool === undefined || !this.toolCalls.pending.includes(callId))
      throw new CodeCellError('ERR_INVALID_REQUEST', `cell ${this.id} waits for no outcome of ${callId}`);
    this.toolCalls.answer(callId, tool.id, answer);
  }
}

/** A call that asked to pause its cell while the cell was paused: its id and the payload it gave. */
export interface QueuedPause {
  callId: string;
  payload: JsonValue;
  /** A call a recovery found in doubt (SPEC §16): its event says so, with the call's idempotency key. */
  inDoubt?: true;
}

const namespaceOf = ({ definition }: CellTool): { namespace?: string } =>
  definition.namespace === undefined ? {} : { namespace: definition.namespace };
