// A run of a cell from its journal (SPEC §13, ADR 16): the recorded deliveries again, each once
// the new run has made its call or set its timer; then the run goes on live.
import type { CellJournal, JournalDelivery } from './journal.js';

/** What a cell's run does with each of the sandbox's requests while a replay lasts. */
export type ReplayVerdict = 'replayed' | 'live' | 'diverged';

/**
 * Runs a cell again from its journal: the sandbox reads the recorded clock (its configuration),
 * its recorded calls are answered from the journal in the recorded order — each once the new run
 * has made it — and output and notifications already produced are dropped. When every recorded
 * delivery is made, the run goes on live: the timers it set then start, and outcomes that arrived
 * meanwhile (calls still in flight when the earlier run stopped, calls made past the journal) are
 * delivered in the order they came.
 */
export class Replay {
  readonly #journal: CellJournal;
  /** `ask`: the number of the sandbox's ask that took it in the recorded run (0: it entered as a task). */
  readonly #deliver: (delivery: JournalDelivery, ask: number) => void;
  /** Whether the sandbox is asking its wait numbered `ask` now (ADR 23). */
  readonly #asking: (ask: number) => boolean;
  readonly #end: number;
  /** How many calls the journal held when the replay began: the new run makes them again. */
  readonly #recordedCalls: number;
  #next = 0;
  #skipOutputs: number;
  #skipNotifications: number;
  /** The calls and timers the new run made: a delivery waits until its own was made. */
  readonly #madeCalls = new Set<string>();
  /** How many of the recorded calls the new run made again. */
  #remade = 0;
  readonly #setTimers = new Set<number>();
  /** Timers the new run set and has not cleared, with their delay: started when it goes live. */
  readonly #timers = new Map<number, number>();
  /** Outcomes that arrived live, in order: delivered after the recorded ones. */
  readonly #held: JournalDelivery[] = [];
  #onLive: ((timers: ReadonlyMap<number, number>) => void) | undefined;

  constructor(
    journal: CellJournal,
    deliver: (delivery: JournalDelivery, ask: number) => void,
    onLive: (timers: ReadonlyMap<number, number>) => void,
    asking: (ask: number) => boolean,
  ) {
    this.#journal = journal;
    this.#deliver = deliver;
    this.#asking = asking;
    this.#onLive = onLive;
    this.#end = journal.deliveryCount;
    this.#recordedCalls = journal.callCount;
    this.#skipOutputs = journal.outputs;
    this.#skipNotifications = journal.notifications;
  }

  /**
   * True until every recorded delivery, and every outcome held meanwhile, was made, and every
   * recorded call made again. A run that has nothing runnable (or ended) while it is still true
   * fell short of the recorded one, and never will make the rest: the first run had made them by
   * then (a host in another time zone, a newer version of the code).
   */
  get active(): boolean {
    return this.#onLive !== undefined;
  }

  /**
   * A call of the new run. One the journal holds must be the same tool and input, and is not made
   * again (its outcome is in the journal, or still to come from the earlier run's call).
   */
  call(callId: string, index: number, inputJson: string): ReplayVerdict {
    const found = this.#journal.call(callId);
    const recorded = found !== undefined && found.position < this.#recordedCalls ? found : undefined;
    if (recorded === undefined) {
      if (this.active) {
        this.#madeCalls.add(callId);
        this.advance(); // the sandbox may ask with this call: see advance
      }
      return 'live';
    }
    if (recorded.index !== index || recorded.inputJson !== inputJson) return 'diverged';
    if (!this.#madeCalls.has(callId)) this.#remade++;
    this.#madeCalls.add(callId);
    this.advance();
    return 'replayed';
  }

  /** A timer the new run set; true when the replay holds it (it fires from the journal, or later). */
  timer(id: number, delayMs: number): boolean {
    if (!this.active) return false;
    this.#timers.set(id, delayMs);
    this.#setTimers.add(id);
    this.advance();
    return true;
  }

  /** True when the replay held the timer (and forgets it). */
  clearTimer(id: number): boolean {
    return this.active && this.#timers.delete(id);
  }

  /** True when the output item was produced by the earlier run (it is not produced again). */
  skipOutput(): boolean {
    if (this.#skipOutputs === 0) return false;
    this.#skipOutputs--;
    return true;
  }

  skipNotification(): boolean {
    if (this.#skipNotifications === 0) return false;
    this.#skipNotifications--;
    return true;
  }

  /** Holds an outcome that arrived live until the replay ends; false once the run is live. */
  hold(delivery: JournalDelivery): boolean {
    if (!this.active) return false;
    this.#held.push(delivery);
    return true;
  }

  /**
   * Makes the recorded deliveries, then the held ones, in order, each once the new run has made
   * its call or set its timer — and one a sandbox's wait took in the recorded run, once the new
   * run asks that wait (the sandbox asks before it sends a call, so each call message is a time
   * to look); then, once it made every recorded call again, the run goes live.
   */
  advance(): void {
    for (;;) {
      const recorded = this.#next < this.#end;
      const delivery = recorded ? this.#journal.delivery(this.#next) : this.#held[0];
      if (delivery === undefined) break;
      const ready =
        delivery.kind === 'settle' ? this.#madeCalls.has(delivery.callId) : this.#setTimers.has(delivery.id);
      if (!ready) return;
      const ask = recorded ? this.#journal.askOf(this.#next) : 0;
      if (ask !== 0 && !this.#asking(ask)) return;
      if (delivery.kind === 'timer') this.#timers.delete(delivery.id);
      if (recorded) this.#next++;
      else {
        this.#held.shift();
        this.#journal.recordDelivery(delivery);
      }
      this.#deliver(delivery, ask);
    }
    // Live only once the new run made every recorded call again: an outcome of one it has not made
    // yet (a call still in flight when the earlier run stopped) waits for it here.
    if (this.#remade < this.#recordedCalls) return;
    const onLive = this.#onLive;
    if (onLive === undefined) return;
    this.#onLive = undefined;
    onLive(this.#timers);
  }
}
