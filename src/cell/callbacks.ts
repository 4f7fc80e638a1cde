// The in-flight delegate calls of one cell, and the one shared deadline that bounds how long
// cancelling them may take. A delegate that ignores its AbortSignal is waited for until the
// deadline and then abandoned: its late result or rejection is swallowed.
import PQueue from 'p-queue';
import { setMaxListeners } from 'node:events';
import { abortable } from 'abort-controller-x';
import { CodeCellError } from '../errors.js';
import { Deadline } from './deadline.js';
import { Slots } from './slots.js';

export type CallbackKind = 'tool' | 'notification';

interface InFlight {
  readonly kind: CallbackKind;
  /** Fails the caller (on cancellation), whatever the delegate does. */
  readonly release: (reason: unknown) => void;
  /** True once the delegate was called (until it settles). */
  started: boolean;
}

/** How a call's caller hears its outcome, exactly once (see CallbackSet.callTool). */
export interface CallOutcome<T> {
  value(value: T): void;
  error(error: unknown): void;
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
  /**
   * A kind closed while none of its calls was in flight (windDown): nothing needed aborting, so
   * the reason is made (an Error and its stack) only if a late call asks for it.
   */
  readonly #closed: Partial<Record<CallbackKind, () => CodeCellError>> = {};

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
    return new Promise<T>((resolve, reject) => this.#call('tool', call, { value: resolve, error: reject }));
  }

  /** runTool for the hot path: the outcome goes to `outcome`, with no promise of ours around the delegate's. */
  callTool<T>(call: (signal: AbortSignal) => Promise<T>, outcome: CallOutcome<T>): void {
    this.#call('tool', call, outcome);
  }

  /** Queues a notification behind the cell's earlier ones. */
  notify(call: (signal: AbortSignal) => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#call('notification', call, { value: resolve, error: reject }));
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
    const released: InFlight[] = [];
    for (const entry of this.#inFlight) {
      if (!kinds.includes(entry.kind)) continue;
      released.push(entry);
      if (!entry.started) this.#inFlight.delete(entry);
    }
    // Heard after the abort returns, all in one microtask (a large cancellation makes no chain each).
    if (released.length > 0) queueMicrotask(() => released.forEach((entry) => entry.release(reason)));
  }

  /**
   * Like abort, for kinds that may have nothing in flight: those are closed without an abort
   * (`reason` is called only if a later call is refused); the others are aborted with `reason()`.
   */
  close(reason: () => CodeCellError, kinds: readonly CallbackKind[]): void {
    const issued = new Set<CallbackKind>();
    for (const entry of this.#inFlight) issued.add(entry.kind);
    const busy = kinds.filter((kind) => issued.has(kind));
    for (const kind of kinds) if (!issued.has(kind)) this.#closed[kind] ??= reason;
    if (busy.length > 0) this.abort(reason(), busy);
  }

  /** Why a new call of `kind` is refused now (its signal aborted, or the kind closed), if it is. */
  #rejection(kind: CallbackKind): unknown {
    const { signal } = this.#controllers[kind];
    if (signal.aborted) return signal.reason;
    const closed = this.#closed[kind];
    if (closed === undefined) return undefined;
    const reason = closed();
    this.#closed[kind] = () => reason;
    return reason;
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
    this.close(
      () => new CodeCellError('ERR_CANCELLED', `cell ${cellId} finished before the tool call settled`),
      ['tool'],
    );
    // Most cells end with nothing in flight: then no deadline, timer or controller is made for them.
    let toolsSettled = Promise.resolve();
    if (this.#running.tool > 0) {
      const toolsDeadline = new Deadline(deadlineMs);
      toolsSettled = this.settle(toolsDeadline, ['tool']).finally(() => toolsDeadline.clear());
    }
    if (this.notificationBacklog === 0) return { toolsSettled, notificationsDone: Promise.resolve(!stop.aborted) };
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

  /**
   * Launches one delegate call of `kind` (tools in a concurrency slot, notifications one at a time
   * in order); `outcome` hears it once. One reaction on the delegate's promise settles the caller,
   * the bookkeeping and the slot; a cancelled call hears its reason in a microtask after the abort,
   * as a rejection would be heard.
   */
  #call<T>(kind: CallbackKind, call: (signal: AbortSignal) => Promise<T>, outcome: CallOutcome<T>): void {
    const closed = this.#rejection(kind);
    if (closed !== undefined) return void queueMicrotask(() => outcome.error(closed));
    const { signal } = this.#controllers[kind];
    let done = false;
    const entry: InFlight = {
      kind,
      release: (reason) => {
        if (done) return;
        done = true;
        outcome.error(reason);
      },
      started: false,
    };
    this.#inFlight.add(entry);
    // The slot is held until the delegate settles; after an abort the queue is cleared and no
    // longer matters, so an abandoned delegate holding its slot harms nobody.
    const run = (free: () => void): void => {
      entry.started = true;
      this.#running[kind]++;
      startCall(call, signal).then(
        (value) => {
          this.#ended(entry, free);
          if (done) return;
          done = true;
          outcome.value(value);
        },
        (error: unknown) => {
          this.#ended(entry, free);
          entry.release(error);
        },
      );
    };
    if (kind === 'tool') this.#tools.add(run);
    else void this.#notifications.add(() => new Promise<void>(run));
  }

  /** A started call's delegate settled: its bookkeeping ends and its slot frees. */
  #ended(entry: InFlight, free: () => void): void {
    this.#inFlight.delete(entry);
    this.#settled(entry.kind);
    free();
  }
}

/**
 * The delegate's promise, called now; a synchronous throw becomes a rejection (a native promise is
 * not wrapped). The client serves a host's call the same way (host/client/serve-call.ts).
 */
export function startCall<T>(call: (signal: AbortSignal) => T | Promise<T>, signal: AbortSignal): Promise<T> {
  try {
    return Promise.resolve(call(signal));
  } catch (error) {
    return Promise.reject(error);
  }
}
