// The seam (`DurableSteps`) on a Restate workflow's context. Two rules of Restate's SDK shape it:
// only one awaiter may drive an invocation's progress at a time (two native awaits of Restate
// promises abort the attempt), and a `ctx.run` closure runs only while its promise is awaited.
// So one pump awaits every open step through `RestatePromise.race`, and hands each outcome to a
// native promise, which the cell's steps await freely. A step taken while the pump waits in a
// race joins the next race, and the race wakes for it: each step that may run long (a call) is
// followed by a wake-up step (`codecell.next`, its position taken with it, so positions stay
// deterministic), which ends when the next step is taken, when an answer is waited for, or when
// no long step is left running; a quick step's race ends by itself.
import type { RestatePromise, WorkflowContext } from '@restatedev/restate-sdk';
import type { CellAnswer, DurableSteps, JsonValue, StepOptions } from '../src/index.js';

/** One open position: the engine's promise, and the native promise the cell awaits. */
interface Open {
  promise: RestatePromise<unknown>;
  settle(outcome: { value: unknown } | { error: unknown }): void;
  /**
   * `quick`: a step whose run returns at once; `long`: one that may run long (a call), raced only
   * once the quick steps taken before it have settled (its run may await them, and a run that
   * waits on an outcome only the invocation's input brings would keep Restate from suspending
   * it); `wake`: a wake-up step, raced only beside a long step; `answer`: a durable promise.
   */
  kind: 'quick' | 'long' | 'wake' | 'answer';
  /** A long step's quick steps taken before it. */
  after?: Open[];
}

/** The durable promise a paused call's answer resolves. */
export const answerPromise = (callId: string): string => `codecell.answer ${callId}`;

export class RestateSteps implements DurableSteps {
  readonly runId: string;
  readonly ended: AbortSignal;
  private readonly open = new Set<Open>();
  /** Ends the current wake-up step (its closure waits for it); undefined when none is open. */
  private wake: (() => void) | undefined;
  /**
   * Long steps whose `run` is running. The wake-up step ends when this falls to 0: left running,
   * it would keep Restate from suspending the invocation, which may be what brings the input the
   * cell waits for.
   */
  private running = 0;
  /** The pump while it runs: it stops, in the same turn as it finds nothing left to race. */
  private pumping: Promise<void> | undefined;

  constructor(
    private readonly ctx: WorkflowContext,
    private readonly restate: typeof import('@restatedev/restate-sdk'),
  ) {
    this.runId = `restate:${ctx.key}`;
    this.ended = ctx.request().attemptCompletedSignal;
  }

  step<T extends JsonValue>(name: string, run: () => Promise<T>, { retries, quick }: StepOptions = {}): Promise<T> {
    const options =
      retries === undefined
        ? {}
        : {
            maxRetryAttempts: retries.maxAttempts,
            initialRetryInterval: (retries.intervalSeconds ?? 1) * 1_000,
            retryIntervalFactor: retries.backoffRate ?? 2,
          };
    this.endWake(); // the race wakes for this step
    if (quick === true) return this.take<T>(this.ctx.run(name, run, options), 'quick');
    const long = async (): Promise<T> => {
      this.running++;
      try {
        return await run();
      } finally {
        if (--this.running === 0) this.endWake();
      }
    };
    const taken = this.take<T>(this.ctx.run(name, long, options), 'long');
    this.nextWake(); // the next step wakes the race, while a long step runs
    return taken;
  }

  answer(callId: string): Promise<CellAnswer> {
    this.endWake(); // nothing else is taken while the cell waits: Restate may suspend the invocation
    return this.take(this.ctx.promise<CellAnswer>(answerPromise(callId)).get(), 'answer');
  }

  /** Resolves once every open position has settled (the cell ended). */
  async close(): Promise<void> {
    this.endWake();
    await this.pumping;
  }

  private take<T>(promise: RestatePromise<T>, kind: Open['kind']): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const settle = (outcome: { value: unknown } | { error: unknown }): void =>
        'value' in outcome ? resolve(outcome.value as T) : reject(outcome.error);
      const after = kind === 'long' ? [...this.open].filter((entry) => entry.kind === 'quick') : undefined;
      this.open.add({ promise, settle, kind, ...(after === undefined ? {} : { after }) });
      if (kind !== 'wake') this.pumping ??= this.pump();
    });
  }

  /** Takes a wake-up step, at the position after the step just taken. */
  private nextWake(): void {
    let end!: () => void;
    const ended = new Promise<null>((resolve) => (end = () => resolve(null)));
    this.wake = end;
    void this.take(
      this.ctx.run('codecell.next', () => ended),
      'wake',
    );
  }

  private endWake(): void {
    this.wake?.();
    this.wake = undefined;
  }

  /** What the pump races now: the positions that may progress, and the wake-ups beside a long step. */
  private raced(): Open[] {
    const open = [...this.open];
    const ready = open.filter(
      (entry) => entry.kind !== 'wake' && !(entry.after ?? []).some((before) => this.open.has(before)),
    );
    return ready.some((entry) => entry.kind === 'long') ? [...ready, ...open.filter((e) => e.kind === 'wake')] : ready;
  }

  /** The one awaiter of the invocation's progress: races the open positions until none is left. */
  private async pump(): Promise<void> {
    await Promise.resolve(); // pumping is set before the first check
    for (;;) {
      const raced = this.raced();
      if (raced.length === 0 || this.ended.aborted) {
        // Only wake-up steps are open: nothing runs long, so none is awaited (a position left
        // without its outcome, on every run alike), and the next step starts the pump again.
        this.open.clear();
        this.pumping = undefined;
        return;
      }
      const first = await this.restate.RestatePromise.race(raced.map((entry) => entry.promise.map(() => entry)));
      this.open.delete(first);
      try {
        first.settle({ value: await first.promise });
      } catch (error) {
        first.settle({ error });
      }
    }
  }
}
