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
  /** Bytes held per key (only with maxBytesPerKey). */
  readonly #bytes = new Map<K, number>();
  readonly #logger: Logger;
  readonly #sinks = new Map<K, RouteSink<N, R>>();
  readonly #pending = new Map<K, Ring<RoutedEntry<N, R>>>();
  /** Held notifications evicted per key, reported once when the key is registered. */
  readonly #evicted = new Map<K, number>();
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
    let ring = this.#pending.get(key);
    if (ring === undefined) {
      if (this.#guards === 0 || this.#pending.size >= this.#maxPendingKeys) {
        this.#drop(entry, { code: INVALID_PARAMS, message: `unknown ${this.#label} ${String(key)}` });
        return;
      }
      ring = new Ring(this.#maxEntriesPerKey);
      this.#pending.set(key, ring);
    }
    const evicted = ring.push(entry);
    if (evicted !== undefined) this.#evict(key, evicted);
    if (this.#maxBytesPerKey === Number.POSITIVE_INFINITY) return;
    let bytes =
      (this.#bytes.get(key) ?? 0) + this.#sizeOfEntry(entry) - (evicted === undefined ? 0 : this.#sizeOfEntry(evicted));
    while (bytes > this.#maxBytesPerKey && ring.size > 1) {
      const oldest = ring.shift() as RoutedEntry<N, R>;
      bytes -= this.#sizeOfEntry(oldest);
      this.#evict(key, oldest);
    }
    this.#bytes.set(key, bytes);
  }

  #sizeOfEntry(entry: RoutedEntry<N, R>): number {
    return (entry.type === 'notification' ? entry.size : undefined) ?? this.#sizeOf?.(entry) ?? 0;
  }

  /** An entry pushed out by the bounds: a request is answered, a notification counted. */
  #evict(key: K, evicted: RoutedEntry<N, R>): void {
    if (evicted.type === 'request') this.#drop(evicted, { code: INTERNAL_ERROR, message: OVERFLOW_MESSAGE });
    else this.#evicted.set(key, (this.#evicted.get(key) ?? 0) + 1);
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
    const ring = this.#pending.get(key);
    const evicted = this.#evicted.get(key);
    if (evicted !== undefined) {
      this.#evicted.delete(key);
      this.#logger.warn(
        `codecell: ${this.#label} ${String(key)} lost its ${evicted} oldest held notification(s) (${OVERFLOW_MESSAGE})`,
      );
    }
    this.#bytes.delete(key);
    if (ring !== undefined) {
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
    this.#evicted.delete(key);
    this.#bytes.delete(key);
    const ring = this.#pending.get(key);
    this.#pending.delete(key);
    if (ring === undefined) return;
    for (let entry = ring.shift(); entry !== undefined; entry = ring.shift()) {
      if (entry.type === 'request') this.#drop(entry, { code: INTERNAL_ERROR, message: ROUTING_ENDED_MESSAGE });
    }
  }

  #endRouting(): void {
    const rings = [...this.#pending.values()];
    this.#pending.clear();
    this.#evicted.clear();
    this.#bytes.clear();
    for (const ring of rings) this.#dropAll(ring);
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
