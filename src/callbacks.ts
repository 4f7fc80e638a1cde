// The in-flight delegate calls of one cell, and the one shared deadline that bounds how long
// cancelling them may take. A delegate that ignores its AbortSignal is waited for until the
// deadline and then abandoned: its late result or rejection is swallowed.
import PQueue from 'p-queue';
import { abortable } from 'abort-controller-x';
import { CodeCellError } from './errors.js';

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

/** Calls `fn` so that a synchronous throw becomes a rejection. */
export function invokeSafely<T>(fn: () => T | PromiseLike<T>): Promise<T> {
  return new Promise<T>((resolve) => resolve(fn()));
}

export type CallbackKind = 'tool' | 'notification';

interface InFlight {
  readonly kind: CallbackKind;
  readonly controller: AbortController;
  /** The delegate's own promise, made unable to reject; undefined until it started. */
  settled?: Promise<void>;
}

export interface CallbackSetOptions {
  maxConcurrentToolCalls: number;
}

/**
 * Launches a cell's delegate calls, each with its own AbortController: tool calls through a
 * bounded queue, notifications one at a time in order.
 */
export class CallbackSet {
  readonly #tools: PQueue;
  readonly #notifications = new PQueue({ concurrency: 1 });
  readonly #inFlight = new Set<InFlight>();
  readonly #aborted = { tool: undefined as CodeCellError | undefined, notification: undefined as CodeCellError | undefined };

  constructor(options: CallbackSetOptions) {
    this.#tools = new PQueue({ concurrency: options.maxConcurrentToolCalls });
  }

  /** Number of callbacks issued and not yet settled or abandoned, queued ones included. */
  get size(): number {
    return this.#inFlight.size;
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

  /** Aborts the signals of the callbacks of these kinds, queued ones included. */
  abort(reason: CodeCellError, kinds: readonly CallbackKind[] = ['tool', 'notification']): void {
    for (const kind of kinds) this.#aborted[kind] ??= reason;
    for (const entry of this.#inFlight) {
      if (kinds.includes(entry.kind)) entry.controller.abort(reason);
    }
  }

  /**
   * Resolves when every started callback settled, or at the deadline, whichever is first. Those
   * still running then are abandoned (they stay tracked only until they settle, and nobody waits).
   */
  async settle(deadline: Deadline, kinds: readonly CallbackKind[] = ['tool', 'notification']): Promise<void> {
    const pending = [...this.#inFlight].flatMap((entry) =>
      entry.settled === undefined || !kinds.includes(entry.kind) ? [] : [entry.settled],
    );
    if (pending.length === 0) return;
    await Promise.race([Promise.all(pending), deadline.reached]);
  }

  #launch<T>(kind: CallbackKind, queue: PQueue, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const aborted = this.#aborted[kind];
    if (aborted !== undefined) return Promise.reject(aborted);
    const entry: InFlight = { kind, controller: new AbortController() };
    this.#inFlight.add(entry);
    const { signal } = entry.controller;
    const task = async (): Promise<T> => {
      // Cancelled while queued: the delegate is never entered.
      signal.throwIfAborted();
      const result = invokeSafely(() => call(signal));
      entry.settled = result.then(noop, noop);
      entry.settled.then(() => this.#inFlight.delete(entry), noop);
      // Frees the queue slot as soon as the signal aborts, even if the delegate never settles.
      return abortable(signal, result).catch((error: unknown) => {
        throw signal.aborted ? signal.reason : error;
      });
    };
    return queue.add(task, { throwOnTimeout: true }).finally(() => {
      if (entry.settled === undefined) this.#inFlight.delete(entry);
    }) as Promise<T>;
  }
}
