// Where a cell's time goes in the host, stage by stage: published on the diagnostics channel
// `codecell:cell-stage` as `{ stage, ms }` while something subscribes to it (the benchmark's cell
// stage rows, or an embedder's tracing). Nothing is timed while nobody listens.
import { channel } from 'node:diagnostics_channel';

/**
 * The stages timed on the thread that runs them: `prepare` (checks, source and sandbox
 * configuration), `admit` (the wait for a pristine isolate: from the pool, or made then), the
 * three steps of making an isolate (`isolate`, its `context`, the `prelude`; also when the pool
 * refills), `configure` (tools and limits into the sandbox), `compile` (the cell's module, on the
 * isolate's thread: the wait for it), `instantiate`, and `dispose`.
 */
export type CellStage =
  'prepare' | 'admit' | 'isolate' | 'context' | 'prelude' | 'configure' | 'compile' | 'instantiate' | 'dispose';

/** What `codecell:cell-stage` publishes: one stage of one cell (or of a pooled isolate). */
export interface CellStageMessage {
  readonly stage: CellStage;
  /** Wall time of the stage, in milliseconds. */
  readonly ms: number;
}

export const CELL_STAGE_CHANNEL = 'codecell:cell-stage';
const stages = channel(CELL_STAGE_CHANNEL);

/** The start of a stage: the time now while someone listens, else 0 (nothing is timed). */
export function stageClock(): number {
  return stages.hasSubscribers ? performance.now() : 0;
}

/** Publishes the stage that began at `start` (from stageClock); the start of the next one. */
export function stageDone(stage: CellStage, start: number): number {
  if (start === 0 || !stages.hasSubscribers) return 0;
  stages.publish({ stage, ms: performance.now() - start } satisfies CellStageMessage);
  // The next stage starts after the subscribers ran, so none of their time counts in it.
  return performance.now();
}
