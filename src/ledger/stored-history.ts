// A re-homing client's copy of a session's stored values (SPEC §13): the values as of the last
// commit its host reported (session/stored), numbered, and what each later commit overwrote for as
// long as an open cell started before it — so a cell names the commit it started at (its host
// says which) instead of carrying a copy of the values, and a replay gets them back as they were.
import { byteLength } from '../json.js';

/** What a commit overwrote: each key's text before it (undefined: the key was new). */
interface Undo {
  readonly commit: number;
  readonly before: Map<string, string | undefined>;
  readonly bytes: number;
}

export class StoredHistory {
  /** The values (JSON texts by key) as of the last commit. */
  readonly #values = new Map<string, string>();
  #bytes = 0;
  /** Commits applied since the client began keeping the session (the restored values are commit 0). */
  #commits = 0;
  /** What the commits after the oldest one still referenced overwrote, oldest first. */
  readonly #undo: Undo[] = [];
  #undoBytes = 0;
  /** How many open cells started at each commit. */
  readonly #references = new Map<number, number>();
  /** Commits older than this can no longer be rebuilt (their undo was let go past its bound). */
  #floor = 0;
  readonly #maxBytes: number;

  /** `maxBytes`: the session's maxStoredBytes as this client set it (never what a host says). */
  constructor(maxBytes: number, restored: Record<string, string> = {}) {
    this.#maxBytes = maxBytes;
    for (const [key, json] of Object.entries(restored)) {
      this.#values.set(key, json);
      this.#bytes += byteLength(key) + byteLength(json);
    }
  }

  /** The number of the last commit. */
  get commits(): number {
    return this.#commits;
  }

  /** The values as of the last commit (what the session is created with elsewhere). */
  get values(): Record<string, string> {
    return Object.fromEntries(this.#values);
  }

  /**
   * A commit (session/stored): the keys written, as JSON texts. False when the values would pass
   * maxStoredBytes — a host that broke its bound (nothing is applied then).
   */
  commit(written: Record<string, string>): boolean {
    let bytes = this.#bytes;
    for (const [key, json] of Object.entries(written)) {
      const before = this.#values.get(key);
      bytes += byteLength(json) - (before === undefined ? -byteLength(key) : byteLength(before));
    }
    if (bytes > this.#maxBytes) return false;
    this.#commits++;
    const kept = this.#references.size > 0;
    const before = new Map<string, string | undefined>();
    let undoBytes = 0;
    for (const [key, json] of Object.entries(written)) {
      const old = this.#values.get(key);
      if (kept && !before.has(key)) {
        before.set(key, old);
        undoBytes += byteLength(key) + (old === undefined ? 0 : byteLength(old));
      }
      this.#values.set(key, json);
    }
    this.#bytes = bytes;
    if (kept) this.#keepUndo({ commit: this.#commits, before, bytes: undoBytes });
    return true;
  }

  /**
   * Keeps what later commits overwrite from now on, until release(the number returned): a cell
   * admitted meanwhile (its execute in flight) names a commit from here on.
   */
  pin(): number {
    this.#references.set(this.#commits, (this.#references.get(this.#commits) ?? 0) + 1);
    return this.#commits;
  }

  /** A cell started at `commit`: its values are kept until release. False when they are not (any more). */
  reference(commit: number): boolean {
    if (commit < this.#floor || commit > this.#commits) return false;
    this.#references.set(commit, (this.#references.get(commit) ?? 0) + 1);
    return true;
  }

  /** The cell that started at `commit` needs its values no more. */
  release(commit: number): void {
    const count = this.#references.get(commit);
    if (count === undefined) return;
    if (count > 1) this.#references.set(commit, count - 1);
    else this.#references.delete(commit);
    this.#trim();
  }

  /** The values as of `commit` (a referenced one), or undefined once they can no longer be rebuilt. */
  at(commit: number): Record<string, string> | undefined {
    if (commit < this.#floor || commit > this.#commits) return undefined;
    const values = new Map(this.#values);
    for (let index = this.#undo.length - 1; index >= 0; index--) {
      const undo = this.#undo[index] as Undo;
      if (undo.commit <= commit) break;
      for (const [key, old] of undo.before) {
        if (old === undefined) values.delete(key);
        else values.set(key, old);
      }
    }
    return Object.fromEntries(values);
  }

  /** Keeps a commit's undo, within twice maxStoredBytes: past it the oldest go (their cells cannot be rebuilt). */
  #keepUndo(undo: Undo): void {
    this.#undo.push(undo);
    this.#undoBytes += undo.bytes;
    while (this.#undoBytes > 2 * this.#maxBytes && this.#undo.length > 0) {
      const dropped = this.#undo.shift() as Undo;
      this.#undoBytes -= dropped.bytes;
      this.#floor = dropped.commit;
    }
  }

  /** Undo older than every referenced commit is needed no more. */
  #trim(): void {
    let oldest = this.#commits;
    for (const commit of this.#references.keys()) oldest = Math.min(oldest, commit);
    while (this.#undo.length > 0 && (this.#undo[0] as Undo).commit <= oldest) {
      const dropped = this.#undo.shift() as Undo;
      this.#undoBytes -= dropped.bytes;
    }
    if (this.#references.size === 0) this.#floor = this.#commits;
  }
}
