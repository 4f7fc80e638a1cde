// A session's stored values (SPEC §4): each cell is configured with a snapshot of them, and the
// store() writes of a cell that completed are committed, within maxStoredBytes.
import { byteLength } from '../json.js';
import type { Logger } from '../types.js';

const sizeOf = (key: string, json: string | undefined): number =>
  json === undefined ? 0 : byteLength(key) + byteLength(json);

export class StoredValues {
  /** JSON texts by key. */
  readonly #values = new Map<string, string>();
  /** UTF-8 bytes of the stored keys and JSON texts, kept as writes are committed. */
  #bytes = 0;
  /** Commits kept so far (the values a session starts with are commit 0). */
  #commits = 0;
  readonly #logger: Logger;
  readonly #committed: ((written: Record<string, string>) => void) | undefined;

  /** `committed` hears each kept commit's writes (SessionRuntimeOptions.onStoredValuesCommitted). */
  constructor(logger: Logger, committed?: (written: Record<string, string>) => void) {
    this.#logger = logger;
    this.#committed = committed;
  }

  /** What a cell is configured with: the values by key, and their size as the host counts it. */
  snapshot(): { stored: Record<string, string>; storedBytes: number } {
    return { stored: Object.fromEntries(this.#values), storedBytes: this.#bytes };
  }

  /** The number of the last commit (a client mirroring the commits names the values by it). */
  get commits(): number {
    return this.#commits;
  }

  /** Starts from a suspended session's values (checked: JSON texts within its bound). */
  restore(values: Record<string, string>): void {
    for (const [key, json] of Object.entries(values)) {
      this.#values.set(key, json);
      this.#bytes += sizeOf(key, json);
    }
  }

  /**
   * Keeps a finished cell's writes, unless they would exceed maxStoredBytes (only a cell that bent
   * the sandbox's own check gets there: its writes are dropped, with a warning).
   */
  commit(writes: ReadonlyMap<string, string>, maxBytes: number): void {
    if (writes.size === 0) return;
    let total = this.#bytes;
    for (const [key, json] of writes) total += sizeOf(key, json) - sizeOf(key, this.#values.get(key));
    if (total > maxBytes) {
      this.#logger.warn(`codecell: dropped a cell's stored values: ${total} bytes, over maxStoredBytes (${maxBytes})`);
      return;
    }
    for (const [key, json] of writes) this.#values.set(key, json);
    this.#bytes = total;
    this.#commits++;
    try {
      this.#committed?.(Object.fromEntries(writes));
    } catch (error) {
      this.#logger.warn(
        `codecell: onStoredValuesCommitted threw: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
