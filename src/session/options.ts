// What a SessionRuntime is given besides its delegate.
import type { IsolatePool } from '../isolate/pool.js';
import type { CellLimits } from '../limits.js';
import type { CellId, Logger, SessionCellEvent, ToolDefinition } from '../types.js';

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
}
