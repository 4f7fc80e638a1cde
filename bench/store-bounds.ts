// Issue 82 (SPEC §16's bounds): what one open cell keeps as it makes many calls. A cell of N
// sequential calls (100 000; 10 000 with --quick) whose journal passes journalMaxBytes (64 KiB)
// cannot run again: its store keeps only what its loss report needs. Printed, while the cell is
// still open: the session's records in its store (≤ 5 000), and the heap it holds beyond the same
// cell run without a store (≤ 2 MiB), each after a full collection; the store is SQLite on disk.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionRuntime, sqliteStore, type CodeCellStore, type JsonValue } from '../src/index.js';
import { quietLogger, round, type ResultRow } from './common.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The heap in use after two full collections, in bytes. */
function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Runs the cell of `calls` calls, and measures while it waits on its last one (it stays open). */
async function openCell(calls: number, store: CodeCellStore | undefined): Promise<{ heap: number; records: number }> {
  let release: (() => void) | undefined;
  let held = 0;
  const delegate = {
    invokeTool: async (call: { tool: { name: string }; input: JsonValue | undefined }) => {
      if (call.tool.name !== 'hold') return call.input ?? null;
      held++;
      await new Promise<void>((resolve) => (release = resolve));
      return null;
    },
    notify: async () => {},
  };
  const tools = [{ name: 'echo' }, { name: 'hold' }];
  const limits = { journalMaxBytes: 64 * 1024 };
  const key = `bounds-${store === undefined ? 'none' : 'kept'}`;
  const session = new SessionRuntime(delegate, {
    tools,
    limits,
    logger: quietLogger,
    key,
    ...(store ? { store } : {}),
  });
  try {
    const source = `for (let i = 0; i < ${calls}; i++) await tools.echo({ i }); await tools.hold({})`;
    await session.execute({ source }, { kind: 'yieldAfter', ms: 0 });
    while (held === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    // The writes of the last calls, and a compaction they started, land first.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const records = store === undefined ? 0 : ((await store.records(key)) ?? []).length;
    return { heap: heapAfterGc(), records };
  } finally {
    release?.();
    await session.shutdown();
  }
}

export async function storeBounds(quick: boolean): Promise<ResultRow[]> {
  const calls = quick ? 10_000 : 100_000;
  const bare = await openCell(calls, undefined);
  // A store on disk: what is measured is what the session holds, not the store's own copy.
  const folder = mkdtempSync(join(tmpdir(), 'codecell-bounds-'));
  const store = sqliteStore({ path: join(folder, 'bounds.db') });
  let kept: { heap: number; records: number };
  try {
    kept = await openCell(calls, store);
  } finally {
    await store.close();
    rmSync(folder, { recursive: true, force: true });
  }
  const row = (name: string, unit: ResultRow['unit'], value: number): ResultRow => ({
    name: `store bounds: ${name}, one open cell of ${calls} calls (journalMaxBytes 64 KiB)`,
    unit,
    median: value,
    p99: value,
    samples: 1,
  });
  return [
    row('records in its store', 'records', kept.records),
    row('heap beyond the same cell without a store', 'MiB', round((kept.heap - bare.heap) / 2 ** 20)),
  ];
}
