// What makes a cell durable (SPEC §13), beside its lifecycle: its journal, the replay of a run
// from it, what the cell runs (kept for that run), the outcomes held while it is paused, and the
// interrupted event its observers get. The Cell decides when it pauses and runs again; this
// decides, for each message and delivery, whether it is recorded, replayed, held or skipped.
import { toJsonText } from '../json.js';
import type { CellRunIsolate } from '../isolate/cell-isolate.js';
import type { ToSandboxMessage } from '../isolate/sandbox-protocol.js';
import type { CellLimits } from '../limits.js';
import type { CellEvent, JsonValue } from '../types.js';
import { DeliveryOrder, type Deterministic } from './delivery-order.js';
import type { CellJournal, JournalDelivery, JournalMark } from './journal.js';
import { Replay, type ReplayVerdict } from './replay.js';

/** What a paused cell is besides its journal: what it runs, its event, the outcomes held for it. */
export interface PausedState {
  program: Program;
  event: CellEvent;
  held: JournalDelivery[];
  journal: CellJournal;
}

/** A cell's code as it runs, its file name, and its sandbox configuration. */
export interface Program {
  source: string;
  filename: string;
  config: string;
  /**
   * The commit of its session's stored values the configuration holds (null: the session has
   * none); undefined when they are not a commit of this session (a restored or replayed cell).
   */
  storedAt?: number | null;
}

/** What durability needs of its cell. */
export interface DurablePort {
  /** The cell's isolate now (a resumed cell runs in a new one): deliveries go into it. */
  isolate(): Pick<CellRunIsolate, 'deliver' | 'deliverTo' | 'asking'>;
  /** True while the cell is paused. */
  paused(): boolean;
  /** The replay made every recorded delivery: these timers (id → delay) start now. */
  live(timers: ReadonlyMap<number, number>): void;
}

export class CellJournaling {
  readonly journal: CellJournal;
  readonly #port: DurablePort;
  /** While a run replays the journal (and after, for the output it still skips). */
  #replay: Replay | undefined;
  #program: Program | undefined;
  /** Outcomes that arrived while the cell was paused: delivered when it runs again. */
  readonly #held: JournalDelivery[] = [];
  /** The interrupted event for the next observer (its items go to the first one only). */
  #paused: CellEvent | undefined;
  /** Settles when an outcome arrives for a paused cell (see whenCallsChange). */
  #callsChanged = Promise.withResolvers<void>();
  /**
   * How far the journal went when it was given to this cell (a snapshot's paused cell, a replay):
   * whoever gave it has it up to there (a host's client is sent only what comes after).
   */
  #given: JournalMark | undefined;
  /** A deterministic cell's clock, and the order its deliveries enter in. */
  readonly #now: number | undefined;
  readonly #order: DeliveryOrder | undefined;

  constructor(port: DurablePort, journal: CellJournal, deterministic?: Deterministic) {
    this.#port = port;
    this.journal = journal;
    this.#now = deterministic?.now;
    if (deterministic !== undefined) this.#order = new DeliveryOrder((delivery) => this.#deliverNow(delivery));
  }

  /** True while a run replays recorded deliveries. */
  get replaying(): boolean {
    return this.#replay?.active === true;
  }

  /** The cell starts `program`: kept while the journal is, for a run from it. */
  starts(program: Program): void {
    if (this.journal.durable) this.#program = program;
  }

  /** What the cell runs, while its journal is kept (undefined once it is not: it cannot run again). */
  get program(): Program | undefined {
    return this.journal.durable ? this.#program : undefined;
  }

  /** How far the journal went when it was given to this cell (undefined: it began here). */
  get given(): JournalMark | undefined {
    return this.#given === undefined ? undefined : { ...this.#given };
  }

  /** The sandbox's journal configuration for a run: its seed and the clock to read first ('' without). */
  sandboxJournal(): string {
    const { durable, seed, clock, asks } = this.journal;
    if (this.#now !== undefined) return JSON.stringify({ seed, clock, now: this.#now });
    if (!durable) return '';
    return JSON.stringify(asks.length === 0 ? { seed, clock } : { seed, clock, asks });
  }

  /**
   * An outcome or a timer: held while paused or while a replay delivers first, else recorded and
   * entered (a deterministic cell's in the order of its calls and timers).
   */
  deliver(delivery: JournalDelivery): void {
    if (this.#order !== undefined) return this.#order.offer(delivery);
    this.#deliverNow(delivery);
  }

  #deliverNow(delivery: JournalDelivery): void {
    if (this.#port.paused()) {
      this.#held.push(delivery);
      return this.callChanged();
    }
    if (this.#replay?.hold(delivery) === true) return;
    this.journal.recordDelivery(delivery);
    const ask = this.#enter(delivery, 0);
    if (ask !== 0) this.journal.recordAsk(ask);
  }

  /**
   * Into the isolate: the number of the sandbox's ask that took it (0: it entered as a task).
   * `ask`: a replay's, for the ask that took it in the recorded run (ADR 23).
   */
  #enter(delivery: JournalDelivery, ask: number): number {
    const message: ToSandboxMessage =
      delivery.kind === 'timer'
        ? ['timer', delivery.id]
        : ['settle', delivery.callId, delivery.ok, delivery.payload, delivery.errorKind];
    if (ask === 0) return this.#port.isolate().deliver(...message);
    this.#port.isolate().deliverTo(ask, ...message);
    return 0;
  }

  /**
   * A call's outcome: as deliver(), without an object for it on the usual path (a running cell
   * that is not replaying: recorded and entered at once).
   */
  settle(callId: string, ok: boolean, payload: string, errorKind: string): void {
    if (this.#order !== undefined || this.#port.paused() || this.#replay?.active === true)
      return this.deliver({ kind: 'settle', callId, ok, payload, errorKind });
    this.journal.recordSettle(callId, ok, payload, errorKind);
    const ask = this.#port.isolate().deliver('settle', callId, ok, payload, errorKind);
    if (ask !== 0) this.journal.recordAsk(ask);
  }

  /** False for an output item an earlier run produced already. */
  output(): boolean {
    if (this.#replay?.skipOutput() === true) return false;
    this.journal.outputs++;
    return true;
  }

  /** False for a notification an earlier run sent already. */
  notification(): boolean {
    if (this.#replay?.skipNotification() === true) return false;
    this.journal.notifications++;
    return true;
  }

  call(callId: string, index: number, inputJson: string): ReplayVerdict {
    const verdict = this.#replay?.call(callId, index, inputJson) ?? 'live';
    if (verdict === 'live') this.#order?.call(callId);
    return verdict;
  }

  /** True when the replay holds the timer (the cell sets no host timer for it now). */
  timer(id: number, delayMs: number): boolean {
    if (this.#replay?.timer(id, delayMs) === true) return true;
    this.#order?.timer(id);
    return false;
  }

  clearTimer(id: number): boolean {
    if (this.#replay?.clearTimer(id) === true) return true;
    this.#order?.cleared(id);
    return false;
  }

  /**
   * Why the cell cannot pause now, or the interrupt's payload as JSON; `later`: it is to pause at
   * the call later (it is paused or replaying now).
   */
  pauseRefusal(limits: CellLimits, payload: unknown, later = false): { why: string } | { payload: JsonValue } {
    if (!this.journal.durable) {
      const { journalMaxBytes } = limits;
      return {
        why:
          journalMaxBytes === 0
            ? 'the cell keeps no journal (journalMaxBytes is 0)'
            : `its journal passed the journalMaxBytes limit of ${journalMaxBytes}`,
      };
    }
    if (this.replaying && !later) return { why: 'the cell is still replaying its journal' };
    try {
      return { payload: JSON.parse(toJsonText(payload) || 'null') as JsonValue };
    } catch (error) {
      return { why: `its payload is not JSON: ${error instanceof Error ? error.message : String(error)}` };
    }
  }

  /** The cell paused with `event`. */
  paused(event: CellEvent): void {
    this.#paused = event;
  }

  /** The interrupted event: its items go to the first observer that takes it. */
  takePaused(event: CellEvent): CellEvent {
    const paused = this.#paused ?? event;
    this.#paused = { ...paused, items: [] };
    return paused;
  }

  /** A paused cell restored from a snapshot (its journal is this one). */
  restore(paused: Omit<PausedState, 'journal'>): void {
    this.#given = this.journal.end;
    this.#program = paused.program;
    this.#paused = paused.event;
    // One at a time: a snapshot's list may be longer than a call's arguments can be.
    for (const delivery of paused.held) this.#held.push(delivery);
  }

  /** The paused cell's state for a snapshot (undefined if it has nothing to run from). */
  pausedState(event: CellEvent): PausedState | undefined {
    if (this.#program === undefined) return undefined;
    return { program: this.#program, event: this.#paused ?? event, held: [...this.#held], journal: this.journal };
  }

  /** A call of the paused cell was settled or asked to pause it too: whenCallsChange settles. */
  callChanged(): void {
    this.#callsChanged.resolve();
    this.#callsChanged = Promise.withResolvers<void>();
  }

  /** Settles when the next outcome arrives for the paused cell. */
  whenCallsChange(): Promise<void> {
    return this.#callsChanged.promise;
  }

  /**
   * A run from the journal begins: what it runs (undefined when the cell cannot run again); the
   * outcomes held while paused go after the recorded ones.
   */
  replay(): Program | undefined {
    const program = this.#program;
    if (program === undefined) return undefined;
    this.#paused = undefined;
    const replay = new Replay(
      this.journal,
      (delivery, ask) => void this.#enter(delivery, ask),
      (timers) => this.#port.live(timers),
      (ask) => this.#port.isolate().asking(ask),
    );
    this.#replay = replay;
    for (const delivery of this.#held.splice(0)) replay.hold(delivery);
    return program;
  }

  /** A cell lost with its host runs again here from its journal: `program` is what it ran. */
  rerun(program: Program): Program | undefined {
    this.#given = this.journal.end;
    this.#program = program;
    return this.replay();
  }

  /** Delivers what the replay can deliver now (called once the run started). */
  advance(): void {
    this.#replay?.advance();
  }
}
