// The tasks that enter one isolate (ADR 1, idle detection): every entry is tracked until it
// settles. `busy` counts the ones whose end matters to the cell (its module, tool results, timers);
// `all` also holds the setup steps, so that `settled()` knows when the isolate's thread is free.

export class IsolateTasks {
  #busy = 0;
  readonly #all = new Set<Promise<unknown>>();
  /** Waiting for the busy tasks to end (see whenIdle). */
  readonly #idleWaiters = new Set<() => void>();
  readonly #ended: () => void;

  /** `ended`: a busy task ended (the isolate may now be idle). */
  constructor(ended: () => void) {
    this.#ended = ended;
  }

  get busy(): number {
    return this.#busy;
  }

  /** Whether any task (busy or not) still runs in the isolate. */
  get running(): boolean {
    return this.#all.size > 0;
  }

  /**
   * Marks a stretch of work as busy (the module's setup, several tasks); call the returned
   * function when it is done (its end alone does not make the isolate idle: a task it started does).
   */
  begin(): () => void {
    this.#busy++;
    return () => {
      if (this.#busy > 0) this.#busy--;
    };
  }

  /** Remembers a task that runs inside the isolate until it settles (see settled). */
  inside<T>(task: Promise<T>): Promise<T> {
    this.#all.add(task);
    const forget = (): void => void this.#all.delete(task);
    task.then(forget, forget);
    return task;
  }

  /** A busy task: `failed` hears its rejection before the task counts as ended. */
  track(task: Promise<unknown>, failed: (error: unknown) => void): void {
    this.#busy++;
    // One reaction (not inside()'s and another): a task per tool result, on the hot path.
    this.#all.add(task);
    task.then(
      () => {
        this.#all.delete(task);
        this.#end();
      },
      (error: unknown) => {
        this.#all.delete(task);
        failed(error);
        this.#end();
      },
    );
  }

  /** True once the busy tasks running or queued now have ended; false after `timeoutMs`. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.#busy === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#idleWaiters.delete(done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#idleWaiters.add(done);
    });
  }

  /** Resolves once every task settled (the isolate's thread is free), or after `boundMs`. */
  settled(boundMs: number): Promise<void> {
    if (this.#all.size === 0) return Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A thread V8 lost control of (catastrophic error) may never unwind: never wedge on it.
    const givenUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, boundMs);
    });
    return Promise.race([Promise.allSettled([...this.#all]), givenUp]).then(() => clearTimeout(timer));
  }

  /** Every task still running, settled or not (for a process that must not exit before them). */
  unwound(): Promise<unknown> {
    return Promise.allSettled([...this.#all]);
  }

  #end(): void {
    if (this.#busy > 0) this.#busy--;
    if (this.#busy === 0 && this.#idleWaiters.size > 0) {
      for (const done of [...this.#idleWaiters]) done();
      this.#idleWaiters.clear();
    }
    this.#ended();
  }
}
