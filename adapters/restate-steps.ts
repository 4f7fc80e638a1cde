// The seam (`DurableSteps`) on a Restate workflow's context. Two rules of Restate's SDK shape it:
// only one awaiter may drive an invocation's progress at a time (two native awaits of Restate
// promises abort the attempt), and a `ctx.run` closure runs only while its promise is awaited.
// So one pump awaits every open step through `RestatePromise.race`, and hands each outcome to a
// native promise, which the cell's steps await freely. A step taken while the pump waits in a
// race joins the next race, and the race wakes for it: each step is followed by a wake-up step
// (`codecell.next`, its position taken with it, so positions stay deterministic), which ends when
// the next step is taken or an answer is waited for.
import type { RestatePromise, WorkflowContext } from '@restatedev/restate-sdk';
import type { CellAnswer, DurableSteps, JsonValue, StepRetries } from '../src/index.js';

/** One open position: the engine's promise, and the native promise the cell awaits. */
interface Open {
  promise: RestatePromise<unknown>;
  settle(outcome: { value: unknown } | { error: unknown }): void;
}

/** The durable promise a paused call's answer resolves. */
export const answerPromise = (callId: string): string => `codecell.answer ${callId}`;

export class RestateSteps implements DurableSteps {
  readonly runId: string;
  readonly ended: AbortSignal;
  private readonly open = new Set<Open>();
  /** Ends the current wake-up step (its closure waits for it); undefined when none is open. */
  private wake: (() => void) | undefined;
  /** The pump while it runs: it stops, in the same turn as it finds no open position. */
  private pumping: Promise<void> | undefined;

  constructor(
    private readonly ctx: WorkflowContext,
    private readonly restate: typeof import('@restatedev/restate-sdk'),
  ) {
    this.runId = `restate:${ctx.key}`;
    this.ended = ctx.request().attemptCompletedSignal;
  }

  step<T extends JsonValue>(name: string, run: () => Promise<T>, retries?: StepRetries): Promise<T> {
    const options =
      retries === undefined
        ? {}
        : {
            maxRetryAttempts: retries.maxAttempts,
            initialRetryInterval: (retries.intervalSeconds ?? 1) * 1_000,
            retryIntervalFactor: retries.backoffRate ?? 2,
          };
    const taken = this.take<T>(this.ctx.run(name, run, options));
    this.nextWake();
    return taken;
  }

  answer(callId: string): Promise<CellAnswer> {
    this.endWake(); // nothing else is taken while the cell waits: Restate may suspend the invocation
    return this.take(this.ctx.promise<CellAnswer>(answerPromise(callId)).get());
  }

  /** Resolves once every open position has settled (the cell ended). */
  async close(): Promise<void> {
    this.endWake();
    await this.pumping;
  }

  private take<T>(promise: RestatePromise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const settle = (outcome: { value: unknown } | { error: unknown }): void =>
        'value' in outcome ? resolve(outcome.value as T) : reject(outcome.error);
      this.open.add({ promise, settle });
      this.pumping ??= this.pump();
    });
  }

  /** Ends the open wake-up step and takes the next one, at the position after the step just taken. */
  private nextWake(): void {
    this.endWake();
    let end!: () => void;
    const ended = new Promise<null>((resolve) => (end = () => resolve(null)));
    this.wake = end;
    void this.take(this.ctx.run('codecell.next', () => ended));
  }

  private endWake(): void {
    this.wake?.();
    this.wake = undefined;
  }

  /** The one awaiter of the invocation's progress: races the open positions until none is left. */
  private async pump(): Promise<void> {
    await Promise.resolve(); // pumping is set before the first check
    for (;;) {
      if (this.open.size === 0 || this.ended.aborted) {
        this.pumping = undefined;
        return;
      }
      const open = [...this.open];
      const first = await this.restate.RestatePromise.race(open.map((entry) => entry.promise.map(() => entry)));
      this.open.delete(first);
      try {
        first.settle({ value: await first.promise });
      } catch (error) {
        first.settle({ error });
      }
    }
  }
}
