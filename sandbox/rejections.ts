// Which rejected promises a cell handles late. isolated-vm reports, at the end of each task, a
// rejection that is still unhandled and then forgets it, so a handler added in a later task
// (`const p = Promise.reject(e); await sleep(50); try { await p } catch {}`) is invisible to the
// host. Every handler goes through `then` or, for `await`, through a read of the promise's
// `constructor` (V8's PromiseResolve), so both are observed here: a promise that is (or becomes)
// rejected reports its rejection's key to the host, which drops the matching report.
// The watch starts only once the host saw an unhandled rejection: the extra reaction it adds to a
// promise would cut V8's async stack frames (`at async …`), which follow a promise with exactly
// one reaction, so cells that never leave a rejection unhandled keep them.
// Loaded with the other sandbox files into one closure.

/**
 * The key of a rejection: the first two lines of its reason's stack (its message and where it
 * was made), else its string form. The host computes the same key from isolated-vm's copy.
 */
function codecellRejectionKey(reason: unknown): string {
  try {
    if (reason !== null && typeof reason === 'object') {
      const stack = (reason as { stack?: unknown }).stack;
      if (typeof stack === 'string') return stack.split('\n', 2).join('\n').slice(0, 1_000);
    }
    return String(reason).slice(0, 1_000);
  } catch {
    return '';
  }
}

/**
 * Reports each rejection a handler is attached to (see above) once the returned `watch` was
 * called; `report` gets its key.
 */
function codecellObserveRejections(report: (key: string) => void): () => void {
  const NativePromise = Promise;
  const prototype = NativePromise.prototype as Promise<unknown> & { then: typeof Promise.prototype.then };
  const nativeThen = prototype.then;
  const reportReason = (reason: unknown): void => report(codecellRejectionKey(reason));
  let observing = false;
  let watching = false;
  /** One more reaction on the promise: it runs only when the promise rejects. */
  const observe = (promise: unknown): void => {
    if (observing || !watching) return; // nativeThen reads `constructor` itself
    observing = true;
    try {
      nativeThen.call(promise as Promise<unknown>, undefined, reportReason);
    } catch {
      // not a promise (then called on something else): nothing to observe
    } finally {
      observing = false;
    }
  };
  function then(this: Promise<unknown>, onFulfilled?: unknown, onRejected?: unknown): Promise<unknown> {
    observe(this);
    return nativeThen.call(this, onFulfilled as never, onRejected as never);
  }
  Object.defineProperty(prototype, 'then', { value: then, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(prototype, 'constructor', {
    get(this: unknown) {
      observe(this);
      return NativePromise;
    },
    // A cell that sets it gets a plain property (and gives up the observation of `await`).
    set(this: object, value: unknown) {
      Object.defineProperty(this, 'constructor', { value, writable: true, configurable: true, enumerable: false });
    },
    configurable: true,
    enumerable: false,
  });
  return () => {
    watching = true;
  };
}
