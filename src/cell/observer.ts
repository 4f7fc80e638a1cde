// The one observer a cell may have at a time (SPEC §4): its mode, its yield timer, and the
// AbortSignal that detaches it without draining anything.
import { CodeCellError } from '../errors.js';
import type { CellEvent, CellId, ObserveMode } from '../types.js';

interface Observer {
  readonly mode: ObserveMode;
  readonly resolve: (event: CellEvent) => void;
  readonly timer: ReturnType<typeof setTimeout> | undefined;
}

/** The error for a second observer of a cell; both session implementations use it. */
export function busyObserverError(cellId: CellId): CodeCellError {
  return new CodeCellError('ERR_BUSY_OBSERVER', `cell ${cellId} already has an active observer`);
}

export class ObserverSlot {
  #observer: Observer | undefined;

  /** The mode of the attached observer, if any. */
  get mode(): ObserveMode | undefined {
    return this.#observer?.mode;
  }

  get busy(): boolean {
    return this.#observer !== undefined;
  }

  /**
   * Attaches an observer (the caller checked `busy`); the promise settles with the event given to
   * resolve(), or rejects with the signal's reason. A yieldAfter mode calls `onYield` when due.
   */
  attach(mode: ObserveMode, onYield: () => void, signal?: AbortSignal): Promise<CellEvent> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        if (this.#observer !== observer) return;
        this.#detach();
        reject(signal?.reason);
      };
      const observer: Observer = {
        mode,
        timer: mode.kind === 'yieldAfter' ? setTimeout(onYield, mode.ms) : undefined,
        resolve: (event) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(event);
        },
      };
      this.#observer = observer;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Hands the event to the observer and frees the slot; nothing happens if none is attached. */
  resolve(event: CellEvent): void {
    this.#detach()?.resolve(event);
  }

  #detach(): Observer | undefined {
    const observer = this.#observer;
    if (observer?.timer !== undefined) clearTimeout(observer.timer);
    this.#observer = undefined;
    return observer;
  }
}
