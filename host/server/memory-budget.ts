// How much memory codecell-host's cells may hold at once: their isolates' heaps and overhead
// (IsolatePool's budget) within what the process may use, so the kernel never kills the whole
// host (and every tenant's sessions) because one connection filled its cells' heaps.
import { totalmem } from 'node:os';

const MiB = 1024 * 1024;
/** What the host process itself needs beside its cells (Node, the sessions' state, buffers). */
export const HOST_RESERVE_MB = 256;

/**
 * The default budget: the process's memory limit (its cgroup's, as in a Kubernetes pod, else the
 * machine's) less HOST_RESERVE_MB, at least 256 MiB.
 */
export function defaultMemoryBudgetMb(): number {
  const constrained = process.constrainedMemory?.() ?? 0;
  const total = totalmem();
  const limit = constrained > 0 && constrained < total ? constrained : total;
  return Math.max(256, Math.floor(limit / MiB) - HOST_RESERVE_MB);
}
