// One driver per session on a host (SPEC §16): a client whose session is kept in a store creates it
// here with its lease's fencing epoch. Per session key a connection remembers the newest epoch it
// was created with: a session/create with an older one is refused ERR_SESSION_MOVED, and one with a
// newer one ends the sessions of the key created with an older epoch, whose client is told
// (session/moved). Each connection keeps its own: a host believes an epoch only from the
// connection that owns the session, so another client of a shared host cannot end a session by
// claiming its key with a higher number (the store's fencing is what stops a former owner there).
import { CodeCellError } from '../../src/index.js';

/** How many keys whose sessions all ended are remembered (the oldest are forgotten first). */
const REMEMBERED_KEYS = 10_000;

/** A session created here with an epoch: how it is ended when a newer one of its key comes. */
interface Holder {
  readonly epoch: number;
  fence(newer: number): void;
}

export class SessionEpochs {
  /** Per key, the newest epoch a session of it was created with here (in the order last used). */
  readonly #newest = new Map<string, number>();
  readonly #holders = new Map<string, Set<Holder>>();

  /**
   * A session of `key` is created with `epoch`: refused if a newer one was; the older ones end
   * (`fence`, told the newer epoch). Returns what to call when the session ends.
   */
  enter(key: string, epoch: number, fence: (newer: number) => void): () => void {
    const newest = this.#newest.get(key);
    if (newest !== undefined && epoch < newest)
      throw new CodeCellError(
        'ERR_SESSION_MOVED',
        `session ${key} moved: its lease (epoch ${epoch}) was taken over (epoch ${newest} is on this host)`,
      );
    this.#newest.delete(key);
    this.#newest.set(key, epoch);
    let holders = this.#holders.get(key);
    if (holders === undefined) this.#holders.set(key, (holders = new Set()));
    for (const older of [...holders])
      if (older.epoch < epoch) {
        holders.delete(older);
        older.fence(epoch);
      }
    const holder: Holder = { epoch, fence };
    holders.add(holder);
    return () => this.#leave(key, holder);
  }

  #leave(key: string, holder: Holder): void {
    const holders = this.#holders.get(key);
    if (holders === undefined || !holders.delete(holder) || holders.size > 0) return;
    this.#holders.delete(key);
    // Its newest epoch is still refused to an older owner, for as long as it is remembered.
    for (const [old] of this.#newest) {
      if (this.#newest.size <= REMEMBERED_KEYS) break;
      if (!this.#holders.has(old)) this.#newest.delete(old);
    }
  }
}
