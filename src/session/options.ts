// What a SessionRuntime is given besides its delegate, and those options checked (at once, with
// precise errors: ERR_INVALID_REQUEST) into what the session runs with.
import { randomUUID } from 'node:crypto';
import type { Deterministic } from '../cell/delivery-order.js';
import type { CellTool } from '../cell/tool-calls.js';
import { CodeCellError } from '../errors.js';
import { defaultIsolatePool, IsolatePool } from '../isolate/pool.js';
import { assertWithinCaps, checkLimits, clampToCaps, DEFAULT_LIMITS, mergeLimits, type CellLimits } from '../limits.js';
import { consoleLogger } from '../logger.js';
import { DEFAULT_LEASE_MS, storeArgs, type CodeCellStore } from '../store/store.js';
import type { CellId, JsonValue, Logger, SessionCellEvent, ToolDefinition } from '../types.js';
import {
  checkCallback,
  checkDeadlineMs,
  checkLogger,
  checkOptionsObject,
  checkSessionKey,
  checkStoredValues,
  checkTools,
} from '../validate.js';
import { snapshotOptions, type SessionSnapshot } from './snapshot.js';

/** The one deadline (ms) within which cancelled callbacks are waited for on terminate and shutdown. */
export const DEFAULT_CALLBACK_ABORT_DEADLINE_MS = 100;

/** What a SessionRuntime is given besides its delegate. */
export interface SessionRuntimeOptions {
  /** Default tools of every cell. */
  tools?: ToolDefinition[];
  limits?: Partial<CellLimits>;
  /** How long cancelled callbacks are waited for before they are abandoned. Default 100. */
  callbackAbortDeadlineMs?: number;
  storedValues?: 'enabled' | 'disabled';
  /** Where warnings go (dropped events, failing notify/cellClosed). Default: console (stderr). */
  logger?: Logger;
  /** Upper bounds no session default or per-cell override may exceed (the host's caps). */
  caps?: Partial<CellLimits>;
  /**
   * Called when V8 lost control of a cell's isolate (isolated-vm's catastrophic error), with the
   * id of the cell whose isolate it was. The cell is terminated (reason memoryLimit); the process
   * should be restarted soon. codecell-host names the cell to its client (never replayed), and exits.
   */
  onCatastrophicError?: (message: string, cellId: CellId) => void;
  /** Where cells get their isolates. Default: one pool shared by the sessions of the process. */
  isolatePool?: IsolatePool;
  /**
   * Sees every cell's admission and stream events as they happen, before any subscriber (for
   * metrics: codecell-host counts cells and times tool calls with it). It must not throw.
   */
  observer?: (event: SessionCellEvent) => void;
  /**
   * Hears each commit of stored values: the keys a completed cell wrote, as JSON texts, once they
   * are kept (codecell-host mirrors them to its client, which re-homes the session with them if
   * the host is lost). It must not throw.
   */
  onStoredValuesCommitted?: (written: Record<string, string>) => void;
  /**
   * The session's key (1–200 letters, digits or `_ . : / @ -`): its calls' idempotency keys
   * begin with it. Default: a new random one; a snapshot keeps it.
   */
  key?: string;
  /**
   * Where the session outlives this process (SPEC §16): its calls are written ahead there, and
   * `SessionRuntime.recover` adopts it in another process once its lease ran out.
   */
  store?: CodeCellStore;
  /** What `store.sessions()` and a recovery's `delegateFor` see of the session (JSON). */
  metadata?: JsonValue;
  /** With a store: how long the session's lease lasts unless renewed (ms; default 10 000). */
  leaseMs?: number;
  /**
   * Cells that run the same way every time, for a durable-execution engine that runs them again
   * and keys its steps by their order (ADR 24): Math.random is seeded with `seed`, the clock reads
   * `now` for the whole cell, and each tool result or timer enters the cell in the order its call
   * or timer was made, as a task of its own. Not with a store.
   */
  deterministic?: Deterministic;
}

/** What a SessionRuntime with a store keeps it there with. */
export interface StoreOptions {
  store: CodeCellStore;
  metadata: JsonValue | null;
  leaseMs: number;
}

/** A SessionRuntime's options, checked: what the session runs with. */
export interface RuntimeOptions {
  key: string;
  logger: Logger;
  tools: CellTool[] | undefined;
  caps: Partial<CellLimits> | undefined;
  /** The session's limits: its own over the defaults (clamped to the caps), within the caps. */
  limits: CellLimits;
  deadlineMs: number;
  storedValues: boolean;
  onStoredValuesCommitted: ((written: Record<string, string>) => void) | undefined;
  onCatastrophicError: ((message: string, cellId: CellId) => void) | undefined;
  pool: IsolatePool;
  observer: ((event: SessionCellEvent) => void) | undefined;
  /** The options a snapshot keeps (suspend). */
  given: SessionSnapshot['options'];
  /** Where the session is kept, when it has a store. */
  stored: StoreOptions | undefined;
  deterministic: Deterministic | undefined;
}

/** Checks a SessionRuntime's options at once: ERR_INVALID_REQUEST saying which is wrong. */
export function checkRuntimeOptions(options: unknown): RuntimeOptions {
  const checked = checkOptionsObject(options);
  const caps = checked.caps === undefined ? undefined : checkLimits(checked.caps, 'options.caps');
  const limits = mergeLimits(clampToCaps(DEFAULT_LIMITS, caps), checkLimits(checked.limits, 'options.limits'));
  assertWithinCaps(limits, caps, 'options.limits');
  if (checked.isolatePool !== undefined && !(checked.isolatePool instanceof IsolatePool))
    throw new CodeCellError('ERR_INVALID_REQUEST', 'options.isolatePool must be an IsolatePool');
  const key = checkSessionKey(checked.key, 'options.key') ?? randomUUID();
  return {
    key,
    logger: checkLogger(checked.logger) ?? consoleLogger,
    tools: checked.tools === undefined ? undefined : checkTools(checked.tools, 'options.tools'),
    caps,
    limits,
    deadlineMs: checkDeadlineMs(checked.callbackAbortDeadlineMs) ?? DEFAULT_CALLBACK_ABORT_DEADLINE_MS,
    storedValues: checkStoredValues(checked.storedValues) === 'enabled',
    onStoredValuesCommitted: checkCallback(checked.onStoredValuesCommitted, 'onStoredValuesCommitted'),
    onCatastrophicError: checkCallback(checked.onCatastrophicError, 'onCatastrophicError'),
    pool: (checked.isolatePool as IsolatePool | undefined) ?? defaultIsolatePool,
    observer: checkCallback(checked.observer, 'observer'),
    given: snapshotOptions({ ...checked, key }),
    stored: checkStoreOptions(checked),
    deterministic: checkDeterministic(checked.deterministic, checked.store !== undefined),
  };
}

/** options.deterministic, checked: a seed and a time, and no store beside it. */
function checkDeterministic(value: unknown, stored: boolean): Deterministic | undefined {
  if (value === undefined) return undefined;
  const refuse = (why: string): never => {
    throw new CodeCellError('ERR_INVALID_REQUEST', `options.deterministic${why}`);
  };
  if (typeof value !== 'object' || value === null) return refuse(' must be an object { seed, now }');
  const { seed, now } = value as Record<string, unknown>;
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
    return refuse('.seed must be an unsigned 32-bit integer');
  if (typeof now !== 'number' || !Number.isFinite(now))
    return refuse('.now must be a finite number (ms since the epoch)');
  if (stored) return refuse(' cannot go with options.store: the engine that runs the cell keeps it');
  return { seed, now };
}

const STORE_METHODS = ['create', 'adopt', 'renew', 'append', 'rewrite', 'records', 'sessions', 'remove', 'close'];

/** A store and what goes with it, checked (none without a store; `metadata` and `leaseMs` need one). */
function checkStoreOptions(options: SessionRuntimeOptions): StoreOptions | undefined {
  const { store, metadata, leaseMs } = options;
  if (store === undefined) {
    if (metadata !== undefined || leaseMs !== undefined)
      throw new CodeCellError('ERR_INVALID_REQUEST', 'options.metadata and options.leaseMs go with options.store');
    return undefined;
  }
  const methods = store as unknown as Record<string, unknown> | null;
  if (
    typeof methods !== 'object' ||
    methods === null ||
    !STORE_METHODS.every((name) => typeof methods[name] === 'function')
  )
    throw new CodeCellError(
      'ERR_INVALID_REQUEST',
      `options.store must be a store (memoryStore(), sqliteStore(…), or an object with ${STORE_METHODS.join(', ')})`,
    );
  storeArgs.metadata(metadata);
  if (leaseMs !== undefined && (!Number.isSafeInteger(leaseMs) || leaseMs < 100 || leaseMs > 86_400_000))
    throw new CodeCellError('ERR_INVALID_REQUEST', 'options.leaseMs must be an integer from 100 to 86400000');
  return { store, metadata: metadata ?? null, leaseMs: leaseMs ?? DEFAULT_LEASE_MS };
}
