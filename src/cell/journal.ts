// A cell's journal (SPEC §13, ADR 16): what the cell consumed that its source does not decide —
// its Math.random seed, its clock readings, and each delivery into its isolate (a tool call's
// outcome, a timer firing) in the order the isolate took them — plus the calls it made and how
// much output and how many notifications it produced. A run from the journal (Replay) gives the
// same calls, output and notifications: the cell's code is a deterministic function of these.
import { randomInt } from 'node:crypto';
import type { ToolCallRecord } from '../types.js';
import { checkDelivery, list, record, type JournalDelivery } from './journal-checks.js';

export type { JournalDelivery } from './journal-checks.js';

/** A tool call the cell made: which tool (its index in the cell's tools) with which input. */
export interface JournaledCall {
  readonly callId: string;
  readonly index: number;
  readonly inputJson: string;
}

/** What an entry costs of journalMaxBytes besides its JSON text (ids, kinds). */
const ENTRY_BYTES = 32;

/** A journal as plain JSON: a paused cell in a suspended session's snapshot. */
export interface JournalSnapshot {
  seed: number;
  clock: number[];
  deliveries: JournalDelivery[];
  calls: JournaledCall[];
  outputs: number;
  notifications: number;
  /**
   * The deliveries a sandbox's wait took (ADR 23), in order: each one's position among
   * `deliveries` and the number of the ask that took it. A run again answers those asks with them.
   */
  waited?: [number, number][];
}

/** How far a reader (a host's mirror for its client) has taken a journal: counts of each list. */
export interface JournalMark {
  clock: number;
  calls: number;
  deliveries: number;
  outputs: number;
  notifications: number;
  lost: boolean;
}

/**
 * What a journal gained since a mark, as plain JSON: new clock readings, calls and deliveries,
 * and the output and notification counts now; `lost` once it passed its bound (the cell can no
 * longer run again from it).
 */
export interface JournalUpdate {
  /** Clock readings since the last update, in order. */
  clock?: number[];
  /** Calls made since. */
  calls?: JournaledCall[];
  /** Deliveries into the sandbox since, in the order it took them. */
  deliveries?: JournalDelivery[];
  /** Output items and notifications the cell produced so far. */
  outputs: number;
  notifications: number;
  /** The journal passed journalMaxBytes: the cell can no longer run again from it. */
  lost?: true;
}

/** How a delivery is kept: a settle that returned, one that threw, or a timer. */
const RETURNED = 0;
const THREW = 1;
const TIMER = 2;

/**
 * The journal keeps its entries in parallel lists of strings and numbers, not an object per entry:
 * a cell's journal lives as long as the cell, and each object it kept would be copied by the
 * garbage collector as it ages (a cell of thousands of calls).
 */
export class CellJournal {
  /** Math.random's seed in the sandbox. */
  readonly seed: number;
  readonly clock: number[] = [];
  /** Output items and notifications the cell produced (and its observers and delegate had). */
  outputs = 0;
  notifications = 0;
  readonly #callIds: string[] = [];
  readonly #callIndexes: number[] = [];
  readonly #callInputs: string[] = [];
  /** Each call's position by id, made when first asked for (a replay, a snapshot). */
  #positions: Map<string, number> | undefined;
  readonly #kinds: number[] = [];
  /** A settle's call id, or a timer's id. */
  readonly #refs: (string | number)[] = [];
  readonly #payloads: string[] = [];
  readonly #errorKinds: string[] = [];
  /** The deliveries the sandbox's wait took: position → the number of its ask (ADR 23). */
  #asks: Map<number, number> | undefined;
  readonly #maxBytes: number;
  #bytes = 0;
  #durable: boolean;

  constructor(maxBytes: number, seed = randomInt(0, 2 ** 32)) {
    this.#maxBytes = maxBytes;
    this.#durable = maxBytes > 0;
    this.seed = seed;
  }

  /** False once the journal passed journalMaxBytes (or was off): the cell can no longer be replayed. */
  get durable(): boolean {
    return this.#durable;
  }

  /** Bytes held, as journalMaxBytes counts them. */
  get bytes(): number {
    return this.#bytes;
  }

  get callCount(): number {
    return this.#callIds.length;
  }

  get deliveryCount(): number {
    return this.#kinds.length;
  }

  /** The delivery at `position` (0 ≤ position < deliveryCount). */
  delivery(position: number): JournalDelivery {
    const kind = this.#kinds[position];
    const ref = this.#refs[position];
    if (kind === TIMER) return { kind: 'timer', id: ref as number };
    const payload = this.#payloads[position] ?? '';
    const errorKind = this.#errorKinds[position] ?? '';
    return { kind: 'settle', callId: ref as string, ok: kind === RETURNED, payload, errorKind };
  }

  /** The number of the sandbox's ask that took the delivery at `position`; 0: it entered as a task. */
  askOf(position: number): number {
    return this.#asks?.get(position) ?? 0;
  }

  /** The asks that took a delivery, in order (a run again answers them with those). */
  get asks(): number[] {
    return [...(this.#asks?.values() ?? [])];
  }

  /** The delivery recorded last was taken by the sandbox's ask numbered `ask`. */
  recordAsk(ask: number): void {
    if (this.#kinds.length === 0 || !this.#spend(ENTRY_BYTES)) return;
    (this.#asks ??= new Map()).set(this.#kinds.length - 1, ask);
  }

  /** A mark before anything of this journal. */
  static get start(): JournalMark {
    return { clock: 0, calls: 0, deliveries: 0, outputs: 0, notifications: 0, lost: false };
  }

  /** A mark after everything the journal holds now. */
  get end(): JournalMark {
    const { clock, callCount, deliveryCount, outputs, notifications } = this;
    return { clock: clock.length, calls: callCount, deliveries: deliveryCount, outputs, notifications, lost: false };
  }

  /** What the journal gained since `mark` (undefined: nothing), moving the mark past it. */
  since(mark: JournalMark): JournalUpdate | undefined {
    const { outputs, notifications } = this;
    if (mark.lost) return undefined;
    if (!this.#durable) {
      mark.lost = true;
      return { outputs, notifications, lost: true };
    }
    const clockNew = this.clock.length > mark.clock;
    const callsNew = this.#callIds.length > mark.calls;
    const deliveriesNew = this.#kinds.length > mark.deliveries;
    if (!clockNew && !callsNew && !deliveriesNew && outputs === mark.outputs && notifications === mark.notifications)
      return undefined;
    const update: JournalUpdate = { outputs, notifications };
    if (clockNew) update.clock = this.clock.slice(mark.clock);
    if (callsNew) {
      const calls: JournaledCall[] = [];
      for (let position = mark.calls; position < this.#callIds.length; position++)
        calls.push({
          callId: this.#callIds[position] as string,
          index: this.#callIndexes[position] as number,
          inputJson: this.#callInputs[position] as string,
        });
      update.calls = calls;
    }
    if (deliveriesNew) {
      const deliveries: JournalDelivery[] = [];
      for (let position = mark.deliveries; position < this.#kinds.length; position++)
        deliveries.push(this.delivery(position));
      update.deliveries = deliveries;
    }
    mark.clock = this.clock.length;
    mark.calls = this.#callIds.length;
    mark.deliveries = this.#kinds.length;
    mark.outputs = outputs;
    mark.notifications = notifications;
    return update;
  }

  /** The recorded call of this id and its position, if the journal holds it. */
  call(callId: string): (JournaledCall & { position: number }) | undefined {
    if (this.#positions === undefined) {
      this.#positions = new Map();
      this.#callIds.forEach((id, position) => this.#positions?.set(id, position));
    }
    const position = this.#positions.get(callId);
    if (position === undefined) return undefined;
    const index = this.#callIndexes[position] as number;
    return { callId, index, inputJson: this.#callInputs[position] as string, position };
  }

  /** What the delegate answered the call, as far as the journal knows. */
  outcomeOf(callId: string): ToolCallRecord['outcome'] {
    for (let position = this.#kinds.length - 1; position >= 0; position--) {
      if (this.#refs[position] === callId && this.#kinds[position] !== TIMER)
        return this.#kinds[position] === RETURNED ? 'returned' : 'threw';
    }
    return 'pending';
  }

  toJSON(): JournalSnapshot {
    const calls = this.#callIds.map((callId, position) => ({
      callId,
      index: this.#callIndexes[position] as number,
      inputJson: this.#callInputs[position] as string,
    }));
    const deliveries = this.#kinds.map((_, position) => this.delivery(position));
    const { seed, clock, outputs, notifications } = this;
    const snapshot: JournalSnapshot = { seed, clock: [...clock], deliveries, calls, outputs, notifications };
    if (this.#asks !== undefined) snapshot.waited = [...this.#asks];
    return snapshot;
  }

  /**
   * A journal from a snapshot (untrusted: every field is checked), within `maxBytes`; throws an
   * Error that says what is wrong.
   */
  static restore(snapshot: unknown, maxBytes: number): CellJournal {
    const saved = record(snapshot, 'journal');
    const seed = saved.seed;
    if (!Number.isSafeInteger(seed) || (seed as number) < 0 || (seed as number) >= 2 ** 32)
      throw new Error('journal.seed must be an unsigned 32-bit integer');
    const journal = new CellJournal(maxBytes, seed as number);
    const clock = list(saved.clock, 'journal.clock');
    if (!clock.every((value) => typeof value === 'number' && Number.isFinite(value)))
      throw new Error('journal.clock must be finite numbers');
    if (clock.length > 0) journal.recordClock(clock.join(','));
    for (const call of list(saved.calls, 'journal.calls')) {
      const { callId, index, inputJson } = record(call, 'journal.calls[]');
      if (
        typeof callId !== 'string' ||
        !/^tool-\d+$/.test(callId) ||
        !Number.isSafeInteger(index) ||
        (index as number) < 0
      )
        throw new Error('journal.calls[] needs a callId tool-N and a tool index');
      if (typeof inputJson !== 'string') throw new Error('journal.calls[] needs an inputJson text');
      if (journal.call(callId) !== undefined) throw new Error(`journal.calls[] holds ${callId} twice`);
      journal.recordCall(callId, index as number, inputJson);
    }
    for (const entry of list(saved.deliveries, 'journal.deliveries')) {
      const delivery = checkDelivery(entry);
      // An outcome of a call the journal does not hold would wait forever in a replay.
      if (delivery.kind === 'settle' && journal.call(delivery.callId) === undefined)
        throw new Error(`journal.deliveries[] settles ${delivery.callId}, which journal.calls does not hold`);
      journal.recordDelivery(delivery);
    }
    for (const key of ['outputs', 'notifications'] as const) {
      const count = saved[key];
      if (!Number.isSafeInteger(count) || (count as number) < 0) throw new Error(`journal.${key} must be a count`);
      journal[key] = count as number;
    }
    if (saved.waited !== undefined) journal.#restoreAsks(list(saved.waited, 'journal.waited'));
    if (!journal.durable) throw new Error(`the journal is over the cell's journalMaxBytes limit of ${maxBytes}`);
    return journal;
  }

  /** The sandbox's clock readings since its last message ("t1,t2,…"); anything else is dropped. */
  recordClock(values: string): void {
    if (!this.#spend(values.length + ENTRY_BYTES)) return;
    for (const text of values.split(',')) {
      const value = Number(text);
      if (text === '' || !Number.isFinite(value)) return this.#lose();
      this.clock.push(value);
    }
  }

  recordCall(callId: string, index: number, inputJson: string): void {
    if (!this.#spend(inputJson.length + callId.length + ENTRY_BYTES)) return;
    this.#positions?.set(callId, this.#callIds.length);
    this.#callIds.push(callId);
    this.#callIndexes.push(index);
    this.#callInputs.push(inputJson);
  }

  /** A call's outcome delivered into the sandbox. */
  recordSettle(callId: string, ok: boolean, payload: string, errorKind: string): void {
    if (!this.#spend(payload.length + callId.length + ENTRY_BYTES)) return;
    this.#kinds.push(ok ? RETURNED : THREW);
    this.#refs.push(callId);
    this.#payloads.push(payload);
    this.#errorKinds.push(errorKind);
  }

  recordTimer(id: number): void {
    if (!this.#spend(ENTRY_BYTES)) return;
    this.#kinds.push(TIMER);
    this.#refs.push(id);
    this.#payloads.push('');
    this.#errorKinds.push('');
  }

  recordDelivery(delivery: JournalDelivery): void {
    if (delivery.kind === 'timer') this.recordTimer(delivery.id);
    else this.recordSettle(delivery.callId, delivery.ok, delivery.payload, delivery.errorKind);
  }

  /** The cell's calls in order, with what the delegate answered (SPEC §13's `toolCalls`). */
  toolCalls(toolOf: (index: number) => ToolCallRecord['tool']): ToolCallRecord[] {
    return this.#callIds.map((callId, position) => {
      const inputJson = this.#callInputs[position] as string;
      return {
        callId,
        tool: toolOf(this.#callIndexes[position] as number),
        input: inputJson === '' ? undefined : (JSON.parse(inputJson) as ToolCallRecord['input']),
        outcome: this.outcomeOf(callId),
      };
    });
  }

  /** A snapshot's `waited`: pairs of a delivery's position and an ask's number, both rising. */
  #restoreAsks(waited: unknown[]): void {
    let [position, ask] = [-1, 0];
    for (const pair of waited) {
      const [at, number] = (Array.isArray(pair) && pair.length === 2 ? pair : []) as [number, number];
      if (!Number.isSafeInteger(at) || at <= position || at >= this.#kinds.length)
        throw new Error('journal.waited[] needs the position of a delivery, after the one before it');
      if (!Number.isSafeInteger(number) || number <= ask)
        throw new Error('journal.waited[] needs the number of an ask, above the one before it');
      [position, ask] = [at, number];
      if (this.#spend(ENTRY_BYTES)) (this.#asks ??= new Map()).set(position, ask);
    }
  }

  #spend(bytes: number): boolean {
    if (!this.#durable) return false;
    this.#bytes += bytes;
    if (this.#bytes <= this.#maxBytes) return true;
    this.#lose();
    return false;
  }

  /** Past the bound: what was kept is let go (the cell runs on, only without a journal). */
  #lose(): void {
    this.#durable = false;
    this.clock.length = 0;
    for (const kept of [
      this.#callIds,
      this.#callIndexes,
      this.#callInputs,
      this.#kinds,
      this.#refs,
      this.#payloads,
      this.#errorKinds,
    ])
      kept.length = 0;
    this.#positions = undefined;
    this.#asks = undefined;
  }
}
