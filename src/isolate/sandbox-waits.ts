// The host's side of the sandbox's deferred wait (ADR 23, sandbox/waits.ts): before a tool call
// the sandbox asks, in memory the two share (the box), for its next delivery, and its thread
// sleeps on the box where it would have gone idle. A delivery that comes while it asks is written
// into the box and enters the cell in that task instead of as a task of its own; the sandbox is
// woken as a futex (Atomics.notify), not by a task of isolated-vm's. The order of deliveries
// holds: the box takes only the first delivery since the ask, and only when no task is queued
// before it; what comes after enters as tasks behind it. The sandbox numbers its asks in the box:
// the number of the ask that took a delivery goes into the journal, and a run again from it
// (replay) answers the asks it names with the same deliveries and every other ask with none.
import type { ToSandboxMessage } from './sandbox-protocol.js';

/**
 * Deliveries a sandbox's wait took, in this process; and the waits answered while the sandbox's
 * thread still read its box, before it slept (sandbox/waits.ts, codecellSpin), as counted when
 * the next delivery is written: for tests and benchmarks.
 */
let waitedDeliveries = 0;
let answeredReading = 0;
export const waitedDeliveriesCount = (): number => waitedDeliveries;
export const answeredReadingCount = (): number => answeredReading;

// The box's states and layout, as sandbox/waits.ts has them (the sandbox alone sets it idle, 0).
const ASKING = 1;
const WRITING = 2;
const FULL = 3;
const EMPTY = 4;
const STATE = 0;
const LENGTH = 1;
const ASK = 2;
const READ = 3;
const UNITS_AT = 16;
/** The longest delivery the box takes (UTF-16 code units); a longer one enters as a task. */
const BOX_UNITS = 8_192;

/** A box for one cell's isolate: shared with its sandbox, which finds it idle. */
export const newWaitBox = (): SharedArrayBuffer => new SharedArrayBuffer(UNITS_AT + 2 * BOX_UNITS);

/**
 * One cell's waits. An ask is answered by the next turn of the event loop at the latest: with the
 * first delivery that comes, or with none. A sandbox that was not answered within its bound takes
 * its ask back, and what comes later enters as a task; one the host claimed (WRITING) is always
 * filled.
 */
export class SandboxWaits {
  readonly #words: Int32Array;
  readonly #units: Uint16Array;
  /** Asks answered so far; and the one an answer of none queued for the loop's next turn is for. */
  #answers = 0;
  #armedFor = -1;
  readonly #mayTake: () => boolean;
  /** While a replay lasts: the asks it answers with their recorded deliveries (give). */
  #held: ReadonlySet<number> | undefined;
  /** The sandbox's count of waits answered while it read the box, as last seen. */
  #read = 0;

  /**
   * `mayTake`: whether the sandbox's wait may take a delivery now (not in the module's first task,
   * with no task queued before it, the cell not stopped).
   */
  constructor(box: SharedArrayBuffer, mayTake: () => boolean) {
    this.#words = new Int32Array(box, 0, 4);
    this.#units = new Uint16Array(box, UNITS_AT, BOX_UNITS);
    this.#mayTake = mayTake;
  }

  /**
   * The sandbox sent a tool call: the wait it asked for is answered by the loop's next turn. That
   * answer is for this ask alone: once it was answered, the sandbox may be asking again already.
   */
  callSent(): void {
    const answers = this.#answers;
    if (this.#armedFor === answers || Atomics.load(this.#words, STATE) !== ASKING) return;
    // A replay answers the asks it holds deliveries for (give), and every other one with none.
    if (this.#held !== undefined) return this.#answerUnheld();
    this.#armedFor = answers;
    setImmediate(() => {
      if (this.#armedFor === answers) this.#armedFor = -1;
      if (this.#answers === answers) this.#answer(EMPTY);
    });
  }

  /**
   * The number of the sandbox's ask that took the delivery, or 0: it enters as a task, as before
   * (always while a replay lasts: only give() answers an ask with a delivery then).
   */
  offer(message: ToSandboxMessage): number {
    if (Atomics.load(this.#words, STATE) !== ASKING) return 0;
    if (this.#held !== undefined) {
      this.#answerUnheld();
      return 0;
    }
    const text = this.#mayTake() ? encodeDelivery(message) : undefined;
    if (text === undefined || text.length > BOX_UNITS) {
      this.#answer(EMPTY);
      return 0;
    }
    return this.#write(text);
  }

  /**
   * A run again from the journal begins (`held`: the asks that took a delivery in the recorded
   * run), or it went on live: undefined (its asks take deliveries as they come), or an empty set
   * (they never do: it waited only to replay).
   */
  replaying(held: ReadonlySet<number> | undefined): void {
    this.#held = held;
  }

  /** Whether the sandbox is asking its wait numbered `ask` now. */
  asking(ask: number): boolean {
    return Atomics.load(this.#words, STATE) === ASKING && this.#asked() === ask;
  }

  /** A replay answers the ask numbered `ask` with the delivery it took in the recorded run. */
  give(ask: number, message: ToSandboxMessage): boolean {
    const text = encodeDelivery(message);
    return text.length <= BOX_UNITS && this.asking(ask) && this.#write(text) === ask;
  }

  /** While a replay lasts: an ask it holds no delivery for is answered with none, at once. */
  #answerUnheld(): void {
    if (this.#held?.has(this.#asked()) !== true) this.#answer(EMPTY);
  }

  /** The number of the ask the sandbox made last. */
  #asked(): number {
    return Atomics.load(this.#words, ASK);
  }

  /** Claims the ask and fills it; its number, or 0 when the sandbox took it back first. */
  #write(text: string): number {
    const words = this.#words;
    if (Atomics.compareExchange(words, STATE, ASKING, WRITING) !== ASKING) return 0;
    // Claimed: the sandbox asks no more until it has read this, so the number is this ask's.
    const ask = this.#asked();
    const units = this.#units;
    for (let i = 0; i < text.length; i++) units[i] = text.charCodeAt(i);
    words[LENGTH] = text.length;
    Atomics.store(words, STATE, FULL);
    Atomics.notify(words, STATE);
    this.#answers++;
    waitedDeliveries++;
    const read = Atomics.load(words, READ);
    answeredReading += read - this.#read;
    this.#read = read;
    return ask;
  }

  /** The cell stopped: a wait still asking is answered with none. */
  stop(): void {
    this.#answer(EMPTY);
  }

  #answer(state: typeof EMPTY): void {
    if (Atomics.compareExchange(this.#words, STATE, ASKING, state) !== ASKING) return;
    Atomics.notify(this.#words, STATE);
    this.#answers++;
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
