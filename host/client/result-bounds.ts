// The largest tool result each cell of a remote session may answer with, checked on the client
// before the answer is sent (a message past the host's bound would cost the whole connection):
// the cell's own maxToolResultBytes, else the session's, and the host's message bound.
import type { CellId } from '../../src/index.js';
import type { ResultBound } from './serve-call.js';

/** What the bounds are measured against: the host's message bound and its name. */
interface BoundHost {
  readonly maxMessageBytes: number | undefined;
  readonly name: string;
}

export class ResultBounds {
  #host: BoundHost;
  /** The session's maxToolResultBytes (session/create says; older hosts do not). */
  #session: number | undefined;
  readonly #cells = new Map<CellId, number>();
  /** Made once per distinct limit (a session has one or a few), not once per tool call. */
  readonly #made = new Map<number | undefined, ResultBound | undefined>();

  constructor(host: BoundHost, session: number | undefined) {
    this.#host = host;
    this.#session = session;
  }

  /** The session now lives on another host, with its bound. */
  moved(host: BoundHost, session: number | undefined): void {
    this.#host = host;
    this.#session = session;
    this.#made.clear();
  }

  /** A cell admitted with a maxToolResultBytes of its own. */
  cell(cellId: CellId, limit: number): void {
    this.#cells.set(cellId, limit);
  }

  closed(cellId: CellId): void {
    this.#cells.delete(cellId);
  }

  /**
   * The cell's bound: its own limit or the session's (none for a cell whose admission has not
   * reached this client yet — `known` false; the host checks it too), and the host's message
   * bound less room for the envelope.
   */
  of(cellId: CellId, known: boolean): ResultBound | undefined {
    const limit = known ? (this.#cells.get(cellId) ?? this.#session) : undefined;
    if (this.#made.has(limit)) return this.#made.get(limit);
    const bound = this.#make(limit);
    if (this.#made.size < 16) this.#made.set(limit, bound);
    return bound;
  }

  #make(limit: number | undefined): ResultBound | undefined {
    const { maxMessageBytes, name } = this.#host;
    const message = maxMessageBytes === undefined ? undefined : maxMessageBytes - 1024;
    if (message !== undefined && (limit === undefined || message < limit))
      return { bytes: message, what: `the largest message ${name} reads (${message} bytes)` };
    return limit === undefined ? undefined : { bytes: limit, what: `the maxToolResultBytes limit of ${limit}` };
  }
}
