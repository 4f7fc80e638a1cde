// The host's side of the sandbox's deferred wait (ADR 23, sandbox/waits.ts): after a tool call
// the sandbox's thread asks for its next delivery where it would have gone idle, and a delivery
// handed to it enters the cell in that task instead of as a task of its own. The order of
// deliveries holds: what comes while a wait is on its way is held for it, and what it does not
// take enters as tasks behind what it took.
import { availableParallelism } from 'node:os';
import type { ToSandboxMessage } from './sandbox-protocol.js';

/** Deliveries a sandbox's wait took, in this process: for tests and benchmarks. */
let waitedDeliveries = 0;
export const waitedDeliveriesCount = (): number => waitedDeliveries;

/**
 * Sandboxes that wait for a delivery not yet made, at most this many at once in the process:
 * isolated-vm's pool has a thread per core and one more, and a task that finds every thread
 * taken starts a thread of its own. The others' waits end at once (their results enter as tasks).
 */
const MAX_BLOCKED_WAITS = Math.max(1, availableParallelism() - 1);
let blockedWaits = 0;

/** One cell's waits. */
export class SandboxWaits {
  /** A tool call came, so the sandbox's wait is on its way: deliveries are held for it. */
  #coming = false;
  readonly #held: ToSandboxMessage[] = [];
  /** The sandbox waits: the next delivery goes to it. */
  #waiter: ((encoded: string) => void) | undefined;
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

  /** The sandbox sent a tool call: its wait follows. */
  callSent(): void {
    this.#coming = true;
  }

  /** Whether the delivery went to a wait (now, or held for the one on its way). */
  offer(message: ToSandboxMessage): boolean {
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waitedDeliveries++;
      waiter(encodeDelivery(message));
      return true;
    }
    if (!this.#coming) return false;
    this.#held.push(message);
    return true;
  }

  /**
   * The sandbox waits (applySyncPromise): the first delivery held, or the next one made before
   * the event loop turns, or none (''); everything else held enters as tasks, behind it.
   */
  wait(): string | Promise<string> {
    this.#coming = false;
    if (!this.#mayTake()) {
      this.#enterHeld();
      return '';
    }
    const first = this.#held.shift();
    this.#enterHeld(); // behind `first`, which enters the cell now
    if (first !== undefined) {
      waitedDeliveries++;
      return encodeDelivery(first);
    }
    if (blockedWaits >= MAX_BLOCKED_WAITS) return '';
    blockedWaits++;
    return new Promise<string>((resolve) => {
      this.#waiter = resolve;
      setImmediate(() => {
        if (this.#waiter !== resolve) return;
        this.#waiter = undefined;
        resolve('');
      });
    }).finally(() => blockedWaits--);
  }

  /** The cell stopped: nothing is held, and a wait ends at once (its isolate can be disposed). */
  stop(): void {
    this.#held.length = 0;
    this.#coming = false;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.('');
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
