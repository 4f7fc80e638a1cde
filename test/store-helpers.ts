// Stores as the recovery tests hold them: a SQLite store with a client keeping sessions there, and
// the same store as another agent process would see it.
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { HostClient } from '../host/index.js';
import { sqliteStore, type CodeCellStore } from '../src/index.js';
import { capturingLogger, tempFolder } from './helpers.js';
import { storeWith } from './store-contract.js';

/** A SQLite store (closed after the test) and a client keeping sessions there under 300 ms leases. */
export async function ownedStore(t: TestContext, file: string): Promise<{ store: CodeCellStore; old: HostClient }> {
  const store = sqliteStore({ path: join(tempFolder(t, 'codecell-remote-'), file) });
  t.after(() => store.close());
  const old = await HostClient.spawn({ store, leaseMs: 300, processes: 1, logger: capturingLogger() });
  t.after(() => old.close());
  return { store, old };
}

/**
 * The same store as another agent process holds it: a recovery never adopts a session its own
 * process still drives (SPEC §16), so a test's successor recovers through this.
 */
export const elsewhere = (store: CodeCellStore): CodeCellStore => storeWith(store, 'another process', {});
