// The one rule that makes SPEC §16's promise true: an answer that reports something durable — a
// cell's end or pause, a tool result going into a cell, a session event, a resumeCell answer, a
// notification going to the delegate — leaves only once every record written before it is
// committed; and a call goes to the delegate only then, and only while this process holds the
// session's lease by its own clock (a former owner, paused past its lease, never makes one). Every
// path passes here, in process (SessionRecords) and over the wire (HostSession's core): the
// records are written first, then the answer or the call goes through the gate. Without a store
// the gate is open and costs nothing.
import type { SessionLog } from './session-log.js';

export class AnswerGate {
  readonly #log: SessionLog | undefined;
  /** Why the session can keep nothing more (its store failed, another process adopted it), once so. */
  readonly #lost: () => Error | undefined;

  constructor(log: SessionLog | undefined, lost: () => Error | undefined = () => undefined) {
    this.#log = log;
    this.#lost = lost;
  }

  /** Whether answers wait for a store (false: they leave at once). */
  get closed(): boolean {
    return this.#log !== undefined;
  }

  /**
   * `value` once every record written so far is durable (at once without a store); rejects with
   * why the session ends when they cannot be. `soon`: records waiting to go with the next write
   * are not sent early for it (an answer nothing else waits on: a session event).
   */
  pass<T>(value: T, soon = false): T | Promise<T> {
    const log = this.#log;
    if (log === undefined) return value;
    return log.written(!soon).then(
      () => value,
      (error: unknown) => {
        throw this.#lost() ?? error;
      },
    );
  }

  /** Resolves once every record written so far is durable (at once without a store): pass's, with no value. */
  after(soon = false): Promise<void> {
    return Promise.resolve(this.pass(undefined, soon));
  }

  /**
   * Resolves once every record written so far is durable and this process holds the session's
   * lease (renewed first when its own clock says it may have run out): a call to the delegate is
   * made then, and never when either fails (the session ends).
   */
  beforeCall(): Promise<void> {
    const log = this.#log;
    if (log === undefined) return Promise.resolve();
    return log.written().then(
      () => log.current(),
      (error: unknown) => {
        throw this.#lost() ?? error;
      },
    );
  }

  /** Runs `make` once beforeCall resolves; never when it fails (`refused` hears why). */
  call(make: () => void, refused: (error: Error) => void): void {
    if (this.#log === undefined) return make();
    this.beforeCall().then(make, (error: unknown) =>
      refused(this.#lost() ?? (error instanceof Error ? error : new Error(String(error)))),
    );
  }

  /** Runs `send` once every record written so far is durable; never when they cannot be (`refused` hears why). */
  send(send: () => void, refused?: (error: Error) => void): void {
    const log = this.#log;
    if (log === undefined) return send();
    log
      .written()
      .then(send, (error: unknown) =>
        refused?.(this.#lost() ?? (error instanceof Error ? error : new Error(String(error)))),
      );
  }

  /**
   * Resolves once the answers held so far have left, whether or not their records could be
   * written: a later request of the same session goes after them (it never overtakes one).
   */
  settled(): Promise<void> | undefined {
    return this.#log?.written().then(
      () => {},
      () => {},
    );
  }
}
