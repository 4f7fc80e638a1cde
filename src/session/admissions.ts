// A session's isolate admissions in progress: each takes a pristine isolate from the pool (its
// catastrophic errors reported to the session), and a shutdown refuses those still waiting at
// once — an isolate that arrives after the refusal is disposed, never run.
import type { CodeCellError } from '../errors.js';
import type { CellIsolate } from '../isolate/cell-isolate.js';
import type { IsolatePool } from '../isolate/pool.js';
import { endSpan, type TraceSpan } from '../tracing.js';
import type { CellId, Logger } from '../types.js';

export class Admissions {
  readonly #pool: IsolatePool;
  readonly #logger: Logger;
  readonly #onCatastrophicError: ((message: string, cellId: CellId) => void) | undefined;
  readonly #waiting = new Set<(error: CodeCellError) => void>();

  constructor(
    pool: IsolatePool,
    logger: Logger,
    onCatastrophicError: ((message: string, cellId: CellId) => void) | undefined,
  ) {
    this.#pool = pool;
    this.#logger = logger;
    this.#onCatastrophicError = onCatastrophicError;
  }

  /**
   * An isolate of `memoryMb` for the cell; a failure or refusal also ends the cell's span with its
   * reason. A catastrophe of the isolate is reported with the cell's id.
   */
  async take(memoryMb: number, span: TraceSpan | undefined, cellId: CellId): Promise<CellIsolate> {
    try {
      return await this.#take(memoryMb, cellId);
    } catch (error) {
      endSpan(span, {}, error instanceof Error ? error.message : String(error));
      throw error;
    }
  }

  /** Rejects every admission still waiting with `error`. */
  refuseAll(error: CodeCellError): void {
    for (const refuse of this.#waiting) refuse(error);
  }

  #take(memoryMb: number, cellId: CellId): Promise<CellIsolate> {
    return new Promise((resolve, reject) => {
      let refused = false;
      const refuse = (error: CodeCellError): void => {
        refused = true;
        this.#waiting.delete(refuse);
        reject(error);
      };
      this.#waiting.add(refuse);
      this.#pool
        .take(memoryMb)
        .then((isolate) => {
          isolate.onCatastrophicError((message) => {
            this.#logger.error(
              `codecell: isolate catastrophic error in cell ${cellId}: ${message} (V8 lost control of the ` +
                `isolate; run untrusted cells in codecell-host so a restart is cheap)`,
            );
            this.#onCatastrophicError?.(message, cellId);
          });
          if (refused) {
            isolate.dispose();
            return;
          }
          this.#waiting.delete(refuse);
          resolve(isolate);
        })
        .catch((error: unknown) => {
          this.#waiting.delete(refuse);
          reject(error);
        });
    });
  }
}
