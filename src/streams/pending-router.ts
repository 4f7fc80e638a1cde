// Holds messages addressed to an id that was assigned but not yet learned by its receiver
// (a new session, a new cell), in order and bounded, and makes sure every held request is
// answered exactly once (SPEC §7).
import { CodeCellError } from '../errors.js';
import { consoleLogger } from '../logger.js';
import type { Logger } from '../types.js';
import { Ring } from './ring.js';

/** A JSON-RPC error answer for a request that could not be routed. */
export interface RoutingFailure {
  code: number;
  message: string;
}

/** A message for a key: a notification, or a request with how to fail it. */
export type RoutedEntry<N, R> =
  | { type: 'notification'; message: N; size?: number }
  | { type: 'request'; message: R; fail(failure: RoutingFailure): void };

/** Where the entries of a registered key go, in arrival order. */
export type RouteSink<N, R> = (entry: RoutedEntry<N, R>) => void;

/** Held while a key's registration is under way: entries for it wait, even past the deadline. */
export interface PendingGuard extends Disposable {
  release(): void;
}

/** Bounds and reporting of a PendingRouter. */
export interface PendingRouterOptions {
  /** What a key names, for the "unknown <label> <key>" answer. Default 'session'. */
  label?: string;
  maxEntriesPerKey?: number;
  /**
   * A bound on the bytes held per key too (default: none): the oldest entries are evicted past
   * it, as past maxEntriesPerKey (the newest is always kept). An entry's size is the one its
   * sender gave (routeNotification's `size`), else what `sizeOf` measures (else 0).
   */
  maxBytesPerKey?: number;
  sizeOf?(entry: RoutedEntry<unknown, unknown>): number;
  maxPendingKeys?: number;
  logger?: Logger;
}

export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
/** How a held request is failed when the buffer overflows. */
export const OVERFLOW_MESSAGE = 'pending session buffer overflow';
/** How a held request is failed when routing ends before its key was registered. */
export const ROUTING_ENDED_MESSAGE = 'pending session routing ended before session was registered';

/** What is held for a key not registered yet: its entries, their bytes, and how many were evicted. */
interface Held<N, R> {
  readonly ring: Ring<RoutedEntry<N, R>>;
  /** Bytes held (counted only with maxBytesPerKey). */
  bytes: number;
  /** Notifications evicted, reported once when the key is registered. */
  evicted: number;
}

/**
 * Holds messages for keys not registered yet (bounded), and routes them in order once they are;
 * every held request gets exactly one answer.
 */
export class PendingRouter<K, N, R> {
  readonly #label: string;
  readonly #maxEntriesPerKey: number;
  readonly #maxPendingKeys: number;
  readonly #maxBytesPerKey: number;
  readonly #sizeOf: ((entry: RoutedEntry<N, R>) => number) | undefined;
  readonly #logger: Logger;
  readonly #sinks = new Map<K, RouteSink<N, R>>();
  /** What each key not registered yet holds: one record, one lookup per entry routed. */
  readonly #pending = new Map<K, Held<N, R>>();
  #guards = 0;

  constructor(options: PendingRouterOptions = {}) {
    const { label = 'session', maxEntriesPerKey = 128, maxPendingKeys = 1024, logger = consoleLogger } = options;
    for (const [name, value] of [
      ['maxEntriesPerKey', maxEntriesPerKey],
      ['maxPendingKeys', maxPendingKeys],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1)
        throw new CodeCellError('ERR_INVALID_REQUEST', `PendingRouter ${name} must be an integer >= 1`);
    }
    this.#label = label;
    this.#maxEntriesPerKey = maxEntriesPerKey;
    this.#maxPendingKeys = maxPendingKeys;
    this.#maxBytesPerKey = options.maxBytesPerKey ?? Number.POSITIVE_INFINITY;
    this.#sizeOf = options.sizeOf;
    this.#logger = logger;
  }

  /** Number of guards held. */
  get guards(): number {
    return this.#guards;
  }

  /** Number of keys with buffered entries. */
  get pendingKeys(): number {
    return this.#pending.size;
  }

  /** Opens a window in which messages for unregistered keys are held. Refcounted. */
  begin(): PendingGuard {
    this.#guards++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#guards--;
      if (this.#guards === 0) this.#endRouting();
    };
    return { release, [Symbol.dispose]: release };
  }

  route(key: K, entry: RoutedEntry<N, R>): void {
    const sink = this.#sinks.get(key);
    if (sink !== undefined) {
      sink(entry);
      return;
    }
    let held = this.#pending.get(key);
    if (held === undefined) {
      if (this.#guards === 0 || this.#pending.size >= this.#maxPendingKeys) {
        this.#drop(entry, { code: INVALID_PARAMS, message: `unknown ${this.#label} ${String(key)}` });
        return;
      }
      held = { ring: new Ring(this.#maxEntriesPerKey), bytes: 0, evicted: 0 };
      this.#pending.set(key, held);
    }
    const { ring } = held;
    const evicted = ring.push(entry);
    if (evicted !== undefined) this.#evict(held, evicted);
    if (this.#maxBytesPerKey === Number.POSITIVE_INFINITY) return;
    held.bytes += this.#sizeOfEntry(entry) - (evicted === undefined ? 0 : this.#sizeOfEntry(evicted));
    while (held.bytes > this.#maxBytesPerKey && ring.size > 1) {
      const oldest = ring.shift() as RoutedEntry<N, R>;
      held.bytes -= this.#sizeOfEntry(oldest);
      this.#evict(held, oldest);
    }
  }

  #sizeOfEntry(entry: RoutedEntry<N, R>): number {
    return (entry.type === 'notification' ? entry.size : undefined) ?? this.#sizeOf?.(entry) ?? 0;
  }

  /** An entry pushed out by the bounds: a request is answered, a notification counted. */
  #evict(held: Held<N, R>, evicted: RoutedEntry<N, R>): void {
    if (evicted.type === 'request') this.#drop(evicted, { code: INTERNAL_ERROR, message: OVERFLOW_MESSAGE });
    else held.evicted++;
  }

  /** Routes a notification; `size`: its size for maxBytesPerKey when the sender knows it (else sizeOf measures it). */
  routeNotification(key: K, message: N, size?: number): void {
    this.route(key, size === undefined ? { type: 'notification', message } : { type: 'notification', message, size });
  }

  /**
   * Delivers the key's held entries in arrival order and makes it routable, in one synchronous
   * step. Entries routed to the key while it flushes (by the sink itself) queue behind the held
   * ones, so nothing overtakes a buffered entry.
   */
  register(key: K, sink: RouteSink<N, R>): void {
    if (this.#sinks.has(key))
      throw new CodeCellError(
        'ERR_INVALID_REQUEST',
        `PendingRouter: ${this.#label} ${String(key)} is already registered`,
      );
    const held = this.#pending.get(key);
    if (held !== undefined) {
      if (held.evicted > 0)
        this.#logger.warn(
          `codecell: ${this.#label} ${String(key)} lost its ${held.evicted} oldest held notification(s) (${OVERFLOW_MESSAGE})`,
        );
      const { ring } = held;
      for (let entry = ring.shift(); entry !== undefined; entry = ring.shift()) sink(entry);
      this.#pending.delete(key);
    }
    this.#sinks.set(key, sink);
  }

  /**
   * Makes the key unroutable again and drops what was held for it: the receiver is gone on
   * purpose, so held notifications go quietly and held requests are answered.
   */
  unregister(key: K): void {
    this.#sinks.delete(key);
    const ring = this.#pending.get(key)?.ring;
    this.#pending.delete(key);
    if (ring === undefined) return;
    for (let entry = ring.shift(); entry !== undefined; entry = ring.shift()) {
      if (entry.type === 'request') this.#drop(entry, { code: INTERNAL_ERROR, message: ROUTING_ENDED_MESSAGE });
    }
  }

  #endRouting(): void {
    const held = [...this.#pending.values()];
    this.#pending.clear();
    for (const { ring } of held) this.#dropAll(ring);
  }

  /** Answers the ring's requests and drops its notifications, with one warning for them all. */
  #dropAll(ring: Ring<RoutedEntry<N, R>>): void {
    const failure = { code: INTERNAL_ERROR, message: ROUTING_ENDED_MESSAGE };
    let notifications = 0;
    for (let entry = ring.shift(); entry !== undefined; entry = ring.shift()) {
      if (entry.type === 'request') this.#drop(entry, failure);
      else notifications++;
    }
    if (notifications > 0)
      this.#logger.warn(
        `codecell: dropped ${notifications} notification(s) for a ${this.#label} (${ROUTING_ENDED_MESSAGE})`,
      );
  }

  #drop(entry: RoutedEntry<N, R>, failure: RoutingFailure): void {
    if (entry.type === 'request') {
      try {
        entry.fail(failure);
      } catch (error) {
        this.#logger.error(`codecell: answering a dropped request failed: ${String(error)}`);
      }
    } else {
      this.#logger.warn(`codecell: dropped a notification for ${this.#label} (${failure.message})`);
    }
  }
}
