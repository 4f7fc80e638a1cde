// The SessionRuntime constructor's public shape (session-runtime.ts is its implementation): new,
// resume and recover, and what suspend and recover take.
import type { CodeCellStore } from '../store/store.js';
import type { SessionRuntimeDelegate } from '../types.js';
import type { SessionRuntimeOptions } from './options.js';
import type { SessionRuntime } from './session-runtime.js';
import type { RecoverOptions, RecoveryInfo } from './recovery.js';
import type { SessionSnapshot } from './snapshot.js';

/** What suspend() takes. */
export interface SuspendOptions {
  /** Terminates the running cells instead of waiting for them to end. */
  signal?: AbortSignal;
}

/** The SessionRuntime constructor, and resume. */
export interface SessionRuntimeConstructor {
  /** Validates `delegate` and `options` at once: ERR_INVALID_REQUEST. */
  new (delegate: SessionRuntimeDelegate, options?: SessionRuntimeOptions): SessionRuntime;
  /**
   * A live session from a snapshot (suspend()): its options, its stored values, and cell ids
   * that continue. `options` adds what a snapshot does not hold (logger, caps, isolatePool, …).
   * A malformed, foreign-version or oversized snapshot is refused with ERR_INVALID_REQUEST.
   */
  resume(snapshot: SessionSnapshot, delegate: SessionRuntimeDelegate, options?: SessionRuntimeOptions): SessionRuntime;
  /**
   * Adopts the sessions of `store` whose owner is gone (their lease ran out) and returns them live
   * (SPEC §16): stored values and cell ids continue, running cells run again from their journals,
   * paused cells stay paused, and a call in doubt is made again only if its tool is `idempotent`
   * (else its cell pauses, `reason: 'inDoubt'`). `delegateFor` gives each its delegate, or
   * undefined to leave it; `options` adds what the store does not keep (logger, isolatePool, …).
   */
  recover(
    store: CodeCellStore,
    delegateFor: (
      info: RecoveryInfo,
    ) => SessionRuntimeDelegate | undefined | Promise<SessionRuntimeDelegate | undefined>,
    options?: RecoverOptions,
  ): Promise<SessionRuntime[]>;
}
