// AbortSignal adapters: a request's CancellationToken from a caller's signal, a handler's signal
// from the peer's cancellation, and a promise given up on when a signal aborts.
import { CancellationTokenSource, type CancellationToken } from 'vscode-jsonrpc/node.js';

/** A CancellationToken that is cancelled when `signal` aborts; `dispose()` detaches it. */
export function tokenFromSignal(signal: AbortSignal | undefined): {
  token: CancellationToken | undefined;
  dispose(): void;
} {
  if (signal === undefined) return { token: undefined, dispose: () => {} };
  const source = new CancellationTokenSource();
  const cancel = (): void => source.cancel();
  if (signal.aborted) source.cancel();
  else signal.addEventListener('abort', cancel, { once: true });
  return {
    token: source.token,
    dispose: () => {
      signal.removeEventListener('abort', cancel);
      source.dispose();
    },
  };
}

/** `promise`, or the signal's reason as soon as it aborts. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** An AbortSignal aborted when the peer cancels the request ($/cancelRequest), or on `abort()`. */
export function signalFromToken(
  token: CancellationToken,
  reason: () => unknown,
): { signal: AbortSignal; abort(reason: unknown): void; dispose(): void } {
  const controller = new AbortController();
  const listener = token.onCancellationRequested(() => controller.abort(reason()));
  if (token.isCancellationRequested) controller.abort(reason());
  return { signal: controller.signal, abort: (why) => controller.abort(why), dispose: () => listener.dispose() };
}
