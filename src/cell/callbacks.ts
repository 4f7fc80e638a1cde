// The in-flight delegate calls of one cell, and the one shared deadline that bounds how long
// cancelling them may take. A delegate that ignores its AbortSignal is waited for until the
// deadline and then abandoned: its late result or rejection is swallowed.
import PQueue from 'p-queue';
import { setMaxListeners } from 'node:events';
import { abortable } from 'abort-controller-x';
import { CodeCellError } from '../errors.js';

const noop = (): void => {};

/**
 * A point in time shared by every callback being cancelled together (one terminate, or every cell
 * of a shutdown). `reached` resolves at the deadline; `clear()` releases the timer early.
 */
export class Deadline {
  readonly reached: Promise<void>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resolve: () => void = noop;

  constructor(ms: number) {
    this.reached = new Promise((resolve) => {
      this.#resolve = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#resolve();
  }
}

export type CallbackKind = 'tool' | 'notification';

interface InFlight {
  readonly kind: CallbackKind;
  /** Rejects the caller's promise (on cancellation), whatever the delegate does. */
  readonly release: (reason: unknown) => void;
  /** True once the delegate was called (until it settles). */
  started: boolean;
}

export interface CallbackSetOptions {
  maxConcurrentToolCalls: number;
}

/**
 * Launches a cell's delegate calls: tool calls through a bounded queue, notifications one at a
 * time in order. All calls of one kind share one AbortSignal, owned by this set: Node's abort()
 * costs several microseconds per signal, so one signal per call would make cancelling 10 000
 * cooperative callbacks take ~100 ms instead of a few (docs/adr-0002-callback-signals.md).
 */
export class CallbackSet {
  readonly #tools: Slots;
  readonly #notifications = new PQueue({ concurrency: 1 });
  readonly #inFlight = new Set<InFlight>();
  readonly #controllers: Record<CallbackKind, AbortController> = {
    tool: new AbortController(),
    notification: new AbortController(),
  };
  /** Delegate calls started and not settled, per kind: settle() waits for a count to reach 0. */
  readonly #running: Record<CallbackKind, number> = { tool: 0, notification: 0 };
  readonly #idle: Record<CallbackKind, PromiseWithResolvers<void> | undefined> = {
    tool: undefined,
    notification: undefined,
  };

  constructor(options: CallbackSetOptions) {
    this.#tools = new Slots(options.maxConcurrentToolCalls);
    // Many calls may listen at once (ours are removed when a call settles); no warning for that.
    setMaxListeners(0, this.#controllers.tool.signal, this.#controllers.notification.signal);
  }

  /** Number of callbacks issued and not yet settled or abandoned, queued ones included. */
  get size(): number {
    return this.#inFlight.size;
  }

  /** Notifications queued or being delivered. */
  get notificationBacklog(): number {
    return this.#notifications.size + this.#notifications.pending;
  }

  /** Runs a tool call when a concurrency slot frees; rejects at once when cancelled. */
  runTool<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.#launch('tool', this.#tools, call);
  }

  /** Queues a notification behind the cell's earlier ones. */
  notify(call: (signal: AbortSignal) => Promise<void>): Promise<void> {
    return this.#launch('notification', this.#notifications, call);
  }

  /**
   * Waits until every queued notification was delivered; false if `signal` ended the wait first
   * (the drain bound, or a cancellation).
   */
  async drainNotifications(signal: AbortSignal): Promise<boolean> {
    try {
      await abortable(signal, this.#notifications.onIdle());
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Aborts the signal of the callbacks of these kinds and rejects their callers' promises now:
   * running calls are released whatever their delegate does, queued calls never start.
   */
  abort(reason: CodeCellError, kinds: readonly CallbackKind[] = ['tool', 'notification']): void {
    for (const kind of kinds) {
      const controller = this.#controllers[kind];
      if (controller.signal.aborted) continue;
      controller.abort(reason);
      if (kind === 'tool') this.#tools.clear();
      else this.#notifications.clear();
    }
    for (const entry of this.#inFlight) {
      if (!kinds.includes(entry.kind)) continue;
      entry.release(reason);
      if (!entry.started) this.#inFlight.delete(entry);
    }
  }

  /**
   * Resolves when every started callback of these kinds settled, or at the deadline, whichever
   * is first. Those still running then are abandoned: nobody waits for them any more.
   */
  async settle(deadline: Deadline, kinds: readonly CallbackKind[] = ['tool', 'notification']): Promise<void> {
    // One promise per kind, not one per call: settling 10 000 callbacks costs no chain each.
    const waits = kinds.filter((kind) => this.#running[kind] > 0).map((kind) => this.#whenIdle(kind));
    if (waits.length === 0) return;
    await Promise.race([Promise.all(waits), deadline.reached]);
  }

  #whenIdle(kind: CallbackKind): Promise<void> {
    this.#idle[kind] ??= Promise.withResolvers<void>();
    return this.#idle[kind].promise;
  }

  /** A started call of `kind` settled. */
  #settled(kind: CallbackKind): void {
    if (--this.#running[kind] > 0) return;
    this.#idle[kind]?.resolve();
    this.#idle[kind] = undefined;
  }

  /**
   * The cell's module settled: its tool calls are cancelled (`toolsSettled`: when they settled,
   * bounded by `deadlineMs`), and its queued notifications delivered within `drainMs`; what is
   * left then is cancelled too (bounded by `deadlineMs`). `notificationsDone` resolves true once
   * the notifications are over, or false at once if `stop` aborts (a termination took over).
   */
  windDown(
    cellId: string,
    { deadlineMs, drainMs, stop }: { deadlineMs: number; drainMs: number; stop: AbortSignal },
  ): {
    toolsSettled: Promise<void>;
    notificationsDone: Promise<boolean>;
  } {
    this.abort(new CodeCellError('ERR_CANCELLED', `cell ${cellId} finished before the tool call settled`), ['tool']);
    const toolsDeadline = new Deadline(deadlineMs);
    const toolsSettled = this.settle(toolsDeadline, ['tool']).finally(() => toolsDeadline.clear());
    const drain = new AbortController();
    const onStop = (): void => drain.abort();
    stop.addEventListener('abort', onStop, { once: true });
    const drainTimer = setTimeout(() => drain.abort(), drainMs);
    const notificationsDone = this.drainNotifications(drain.signal).then(async (drained) => {
      clearTimeout(drainTimer);
      stop.removeEventListener('abort', onStop);
      if (stop.aborted) return false;
      if (!drained) {
        this.abort(new CodeCellError('ERR_CANCELLED', `cell ${cellId} notifications exceeded completionDrainMs`), [
          'notification',
        ]);
        const deadline = new Deadline(deadlineMs);
        await this.settle(deadline, ['notification']);
        deadline.clear();
      }
      return !stop.aborted;
    });
    return { toolsSettled, notificationsDone };
  }

  #launch<T>(kind: CallbackKind, queue: PQueue | Slots, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { signal } = this.#controllers[kind];
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const entry: InFlight = { kind, release: reject, started: false };
      this.#inFlight.add(entry);
      // The queue slot is held until the delegate settles; after an abort the queue is cleared
      // and no longer matters, so an abandoned delegate holding its slot harms nobody.
      void queue.add(() => {
        entry.started = true;
        this.#running[kind]++;
        // One reaction settles the caller, the bookkeeping and the slot; it never rejects.
        return startCall(call, signal).then(
          (value) => {
            this.#inFlight.delete(entry);
            this.#settled(kind);
            resolve(value);
          },
          (error: unknown) => {
            this.#inFlight.delete(entry);
            this.#settled(kind);
            reject(error);
          },
        );
      });
    });
  }
}

/** The delegate's promise; a synchronous throw becomes a rejection (a native promise is not wrapped). */
function startCall<T>(call: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
  try {
    return Promise.resolve(call(signal));
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * The tool calls' concurrency bound: a call starts at once while a slot is free (no queue hop on
 * the hot path), else when one frees, in order. `clear()` drops the waiting ones.
 */
class Slots {
  readonly #limit: number;
  #running = 0;
  #waiting: (() => void)[] = [];
  #next = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Runs `task` in a slot held until the promise it returns settles. */
  add(task: () => Promise<void>): void {
    if (this.#running < this.#limit) this.#run(task);
    else this.#waiting.push(() => this.#run(task));
  }

  clear(): void {
    this.#waiting = [];
    this.#next = 0;
  }

  #run(task: () => Promise<void>): void {
    this.#running++;
    const next = (): void => {
      this.#running--;
      const start = this.#waiting[this.#next];
      if (start === undefined) return;
      this.#waiting[this.#next++] = noop;
      if (this.#next === this.#waiting.length) this.clear();
      start();
    };
    void task().then(next, next);
  }
}
