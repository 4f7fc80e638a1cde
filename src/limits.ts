import { availableParallelism } from 'node:os';
import { CodeCellError, invalidRequest } from './errors.js';

/** The limits of a cell (session defaults, per-cell overrides under the host's caps); README: Limits. */
export interface CellLimits {
  /** Isolate heap limit in MiB. */
  memoryMb: number;
  /** Wall-clock limit of a cell in ms; 0 = none. */
  wallTimeMs: number;
  /** CPU-time limit of a cell's isolate in ms; 0 = none. */
  cpuTimeMs: number;
  maxOutputBytes: number;
  maxSourceBytes: number;
  maxToolInputBytes: number;
  maxToolResultBytes: number;
  /** UTF-8 bytes of a tool error's text (its message and its causes') a cell is handed; cut past it, with a note. */
  maxToolErrorBytes: number;
  maxConcurrentToolCalls: number;
  maxCellsPerSession: number;
  /**
   * Cells of a session that execute at once (a session limit; default: the machine's cores).
   * Others wait for a slot; a cell waiting on tools or timers holds none.
   */
  maxRunningCells: number;
  completionDrainMs: number;
  /** UTF-8 bytes of one notify() message. */
  maxNotificationBytes: number;
  /** UTF-8 bytes of the session's stored values (keys and JSON texts together). */
  maxStoredBytes: number;
  /**
   * Bytes of a running cell's journal (SPEC §13: tool results, inputs, clock readings); past it
   * the cell runs on but can no longer be paused by a CellInterrupt or replayed. 0: no journal.
   */
  journalMaxBytes: number;
  /**
   * UTF-8 bytes of output one observation (one exec or wait result) returns, text and images
   * together (a session limit, capped host-wide): the rest of what it drained is cut, and a note
   * says how much.
   */
  maxResultBytes: number;
}

const MiB = 1024 * 1024;

/** The limits a session uses where neither it nor the cell sets one. */
export const DEFAULT_LIMITS: Readonly<CellLimits> = Object.freeze({
  memoryMb: 128,
  // Finite everywhere (SPEC §15): a runaway loop ends, a cell waiting on slow tools may take long.
  wallTimeMs: 600_000,
  cpuTimeMs: 60_000,
  maxOutputBytes: 8 * MiB,
  maxSourceBytes: 1 * MiB,
  maxToolInputBytes: 4 * MiB,
  maxToolResultBytes: 4 * MiB,
  maxToolErrorBytes: 64 * 1024,
  maxConcurrentToolCalls: 16,
  maxCellsPerSession: 64,
  maxRunningCells: availableParallelism(),
  completionDrainMs: 10_000,
  maxNotificationBytes: 64 * 1024,
  maxStoredBytes: 4 * MiB,
  journalMaxBytes: 1 * MiB,
  maxResultBytes: 8 * MiB,
});

/** The smallest accepted value of each limit (isolated-vm refuses heaps under 8 MiB). */
const MINIMUMS: Readonly<CellLimits> = Object.freeze({
  memoryMb: 8,
  wallTimeMs: 0,
  cpuTimeMs: 0,
  maxOutputBytes: 0,
  maxSourceBytes: 1,
  maxToolInputBytes: 0,
  maxToolResultBytes: 0,
  maxToolErrorBytes: 256,
  maxConcurrentToolCalls: 1,
  maxCellsPerSession: 1,
  maxRunningCells: 1,
  completionDrainMs: 0,
  maxNotificationBytes: 1,
  maxStoredBytes: 0,
  journalMaxBytes: 0,
  maxResultBytes: 1024,
});

export const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as (keyof CellLimits)[];

/** Limits of a session as a whole: set with the session, never per cell. */
export const SESSION_LIMITS: readonly (keyof CellLimits)[] = [
  'maxCellsPerSession',
  'maxStoredBytes',
  'maxRunningCells',
  'maxResultBytes',
];

/**
 * Validates a partial set of limits (unknown keys, non-integers and too-small values are refused;
 * `perCell` also refuses the session limits).
 */
export function checkLimits(value: unknown, where: string, perCell = false): Partial<CellLimits> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidRequest(`${where} must be an object`);
  }
  const limits: Partial<CellLimits> = {};
  for (const [name, raw] of Object.entries(value)) {
    if (!(LIMIT_NAMES as string[]).includes(name)) {
      throw invalidRequest(`${where}.${name} is not a known limit (known: ${LIMIT_NAMES.join(', ')})`);
    }
    const key = name as keyof CellLimits;
    if (perCell && SESSION_LIMITS.includes(key)) {
      throw invalidRequest(`${where}.${name} is a limit of the session, not of a cell: set it in the session's limits`);
    }
    if (raw === undefined) continue;
    if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < MINIMUMS[key]) {
      throw invalidRequest(`${where}.${name} must be an integer >= ${MINIMUMS[key]}, got ${String(raw)}`);
    }
    limits[key] = raw;
  }
  return limits;
}

/** Later layers override earlier ones. */
export function mergeLimits(base: Readonly<CellLimits>, override: Partial<CellLimits>): CellLimits {
  return { ...base, ...override };
}

/** Wall and CPU time use 0 for "no limit". */
const ZERO_IS_UNLIMITED: readonly (keyof CellLimits)[] = ['wallTimeMs', 'cpuTimeMs'];

/** The defaults lowered to the caps, so a session that asks for nothing fits any host. */
export function clampToCaps(limits: Readonly<CellLimits>, caps: Partial<CellLimits> | undefined): CellLimits {
  const clamped = { ...limits };
  if (caps === undefined) return clamped;
  for (const name of LIMIT_NAMES) {
    const cap = caps[name];
    if (cap === undefined || (ZERO_IS_UNLIMITED.includes(name) && cap === 0)) continue;
    const unlimited = ZERO_IS_UNLIMITED.includes(name) && clamped[name] === 0;
    if (unlimited || clamped[name] > cap) clamped[name] = cap;
  }
  return clamped;
}

/**
 * Refuses limits above a host-wide cap (ERR_LIMIT_EXCEEDED): a request may lower a limit, never
 * raise it past what the host allows.
 */
export function assertWithinCaps(
  limits: Readonly<CellLimits>,
  caps: Partial<CellLimits> | undefined,
  where: string,
): void {
  if (caps === undefined) return;
  for (const name of LIMIT_NAMES) {
    const cap = caps[name];
    if (cap === undefined) continue;
    const unlimited = ZERO_IS_UNLIMITED.includes(name);
    if (unlimited && cap === 0) continue;
    const value = unlimited && limits[name] === 0 ? Number.POSITIVE_INFINITY : limits[name];
    if (value > cap) {
      throw new CodeCellError(
        'ERR_LIMIT_EXCEEDED',
        `${where}.${name} = ${limits[name] === 0 && unlimited ? '0 (none)' : limits[name]} is above ` +
          `the host cap of ${cap}`,
      );
    }
  }
}
