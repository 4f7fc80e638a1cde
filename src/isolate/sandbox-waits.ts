// The host's side of the sandbox's deferred wait (ADR 23, sandbox/waits.ts): after a tool call
// the sandbox's thread asks for its next delivery where it would have gone idle, and a delivery
// handed to it enters the cell in that task instead of as a task of its own. The order of
// deliveries holds: what comes while a wait is on its way is held for it, and what it does not
// take enters as tasks behind what it took.
import type { ToSandboxMessage } from './sandbox-protocol.js';

/** Deliveries a sandbox's wait took, in this process: for tests and benchmarks. */
let waitedDeliveries = 0;
export const waitedDeliveriesCount = (): number => waitedDeliveries;

/**
 * One cell's waits. A wait is answered at once, with a delivery held for it or with none: never
 * with a promise. isolated-vm wakes a thread that waits on a promise (applySyncPromise) by
 * signalling a condition variable after it has let go of its lock, and that thread may have seen
 * the promise settled and gone on, destroying the variable, in between; a wait answered at once
 * is handed over under the lock (ADR 23). A wait that comes too late, or never (the sandbox may
 * skip it), holds nothing up: what was held enters as tasks once the event loop turns.
 */
export class SandboxWaits {
  /** A tool call came, so the sandbox's wait may be on its way: deliveries are held for it. */
  #coming = false;
  readonly #held: ToSandboxMessage[] = [];
  #flushQueued = false;
  readonly #enter: (message: ToSandboxMessage) => void;
  readonly #mayTake: () => boolean;

  /**
   * `enter`: a delivery as a task of its own. `mayTake`: whether a wait may take a delivery now
   * (not in the module's first task, with no task queued before it, the cell not stopped).
   */
  constructor(enter: (message: ToSandboxMessage) => void, mayTake: () => boolean) {
    this.#enter = enter;
    this.#mayTake = mayTake;
  }

  /** Deliveries wait here: the isolate is not idle (it has work to take). */
  get holding(): boolean {
    return this.#held.length > 0;
  }

  /** The sandbox sent a tool call: its wait may follow. */
  callSent(): void {
    this.#coming = true;
  }

  /** Whether the delivery is held for the wait on its way. */
  offer(message: ToSandboxMessage): boolean {
    if (!this.#coming) return false;
    this.#held.push(message);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      setImmediate(() => {
        this.#flushQueued = false;
        this.#coming = false;
        this.#enterHeld();
      });
    }
    return true;
  }

  /**
   * The sandbox waits (applySyncPromise): the first delivery held, or none (''); whatever else
   * was held enters as tasks, behind it.
   */
  wait(): string {
    this.#coming = false;
    if (!this.#mayTake()) {
      this.#enterHeld();
      return '';
    }
    const first = this.#held.shift();
    this.#enterHeld(); // behind `first`, which enters the cell now
    if (first === undefined) return '';
    waitedDeliveries++;
    return encodeDelivery(first);
  }

  /** The cell stopped: nothing is held. */
  stop(): void {
    this.#held.length = 0;
    this.#coming = false;
  }

  #enterHeld(): void {
    for (const message of this.#held.splice(0)) this.#enter(message);
  }
}

/** A delivery as the sandbox's wait takes it (sandbox/waits.ts decodes it). */
function encodeDelivery(message: ToSandboxMessage): string {
  switch (message[0]) {
    case 'settle':
      return `s${message[2] ? '1' : '0'}${message[4]}\u0000${message[1]}\u0000${message[3]}`;
    case 'timer':
      return `t${message[1]}`;
    case 'watchRejections':
      return 'w';
    case 'configure':
      throw new Error('codecell: a configuration is never waited for');
  }
}
