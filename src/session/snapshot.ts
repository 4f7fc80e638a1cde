// A suspended session (SPEC §13): plain JSON that any process can resume, in-process or on any
// codecell-host. It holds what a session's state is — its options, its stored values as of its
// last commit, the id its next cell gets, and its cells paused by a CellInterrupt (each with its
// journal) — and nothing that is not data (no delegate).
import { invalidRequest } from '../errors.js';
import { byteLength } from '../json.js';

/** The snapshot format this codecell writes and reads. */
export const SNAPSHOT_VERSION = 1;

export type { PausedCellSnapshot, ReplayableCell, ReplayStart, SessionSnapshot } from '../cell/snapshots.js';
import type { SessionSnapshot } from '../cell/snapshots.js';

const OPTION_KEYS = new Set(['tools', 'limits', 'storedValues', 'callbackAbortDeadlineMs', 'key', 'deterministic']);

const bad = (why: string): never => {
  throw invalidRequest(`cannot resume the session: ${why}`);
};

/**
 * The snapshot, checked, and the bytes of its stored values: ERR_INVALID_REQUEST saying why when
 * it is malformed or of another version. Its options are checked by the session made from it, as
 * any session's are, and its stored values against that session's bound (checkStoredBytes).
 */
export function checkSnapshot(snapshot: unknown): { snapshot: SessionSnapshot; storedBytes: number } {
  if (snapshot === null || typeof snapshot !== 'object' || Array.isArray(snapshot))
    return bad('the snapshot must be an object (what suspend() returned)');
  const { version, options, storedValues, nextCellId, pausedCells } = snapshot as Record<string, unknown>;
  if (pausedCells !== undefined && !Array.isArray(pausedCells)) return bad('snapshot.pausedCells must be an array');
  if (version !== SNAPSHOT_VERSION)
    return bad(`snapshot version ${JSON.stringify(version)} is not supported (this codecell reads version 1)`);
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    return bad('snapshot.options must be an object');
  const unknown = Object.keys(options).find((key) => !OPTION_KEYS.has(key));
  if (unknown !== undefined) return bad(`snapshot.options.${unknown} is not a session option a snapshot holds`);
  if (!Number.isSafeInteger(nextCellId) || (nextCellId as number) < 1)
    return bad('snapshot.nextCellId must be a positive integer');
  if (storedValues === null || typeof storedValues !== 'object' || Array.isArray(storedValues))
    return bad('snapshot.storedValues must be an object of JSON texts');
  let bytes = 0;
  for (const [key, text] of Object.entries(storedValues)) {
    if (typeof text !== 'string') return bad(`snapshot.storedValues.${key} must be a JSON text`);
    try {
      JSON.parse(text);
    } catch {
      return bad(`snapshot.storedValues.${key} is not valid JSON`);
    }
    bytes += byteLength(key) + byteLength(text);
  }
  return { snapshot: snapshot as SessionSnapshot, storedBytes: bytes };
}

/** Refuses stored values the resumed session could not hold. */
export function checkStoredBytes(bytes: number, maxStoredBytes: number, enabled: boolean): void {
  if (bytes > maxStoredBytes) bad(`its stored values are ${bytes} bytes, over maxStoredBytes (${maxStoredBytes})`);
  if (bytes > 0 && !enabled) bad('it has stored values, and the session it would make has storedValues disabled');
}

/** What a snapshot keeps of a session's options: their JSON, the defined ones only. */
export function snapshotOptions(options: SessionSnapshot['options']): SessionSnapshot['options'] {
  const kept: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined) kept[key] = JSON.parse(JSON.stringify(value));
  }
  return kept as SessionSnapshot['options'];
}
