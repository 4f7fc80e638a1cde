// What a recovered cell tells (SPEC §16, issue 85): the output a pause handed out before its agent
// was lost is not told again — resumeCell on the recovered session returns what came after it, in
// process (memoryStore, sqliteStore) and over the wire, as it does without a recovery.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { HostClient, type RemoteSession } from '../host/index.js';
import { CellInterrupt, SessionRuntime, type NestedToolCall } from '../src/index.js';
import { memoryStore } from '../src/store/memory-store.js';
import { sqliteStore } from '../src/store/sqlite-store.js';
import { untilRecovered } from './agent-process.js';
import { capturingLogger, LONG_WAIT, RecordingDelegate, stall, tempFolder, texts } from './helpers.js';
import { storeWith } from './store-contract.js';

const SOURCE = 'text("before"); text(await tools.deploy({}))';
const TOOLS = [{ name: 'deploy' }];
/** A deploy that asks first, then is made. */
const deploy = (call: NestedToolCall): string => {
  if (call.approved !== true) throw new CellInterrupt({ ask: 'deploy?' });
  return 'deployed';
};

describe('after a recovery, what a pause handed out is not told again', { timeout: 60_000 }, () => {
  for (const kind of ['memoryStore', 'sqliteStore'] as const)
    test(`in process, ${kind}: resumeCell returns what came after the pause`, async (t) => {
      const store =
        kind === 'memoryStore' ? memoryStore() : sqliteStore({ path: join(tempFolder(t, 'cc-seen-'), 's.db') });
      t.after(() => store.close());
      const options = { store, key: 'seen-1', tools: TOOLS, leaseMs: 300, logger: capturingLogger() };
      const owner = new SessionRuntime(new RecordingDelegate({ deploy }), options);
      t.after(() => owner.shutdown());
      const { cellId, initialEvent } = await owner.execute({ source: SOURCE }, LONG_WAIT);
      const paused = await initialEvent;
      assert.deepEqual([paused.kind, texts(paused)], ['interrupted', ['before']]);
      stall(400); // its lease runs out: as if its process were gone
      // The same store as another process holds it (a recovery never adopts what this one drives).
      const elsewhere = storeWith(store, 'another process', {});
      const successor = new RecordingDelegate({ deploy });
      const [session] = await SessionRuntime.recover(elsewhere, () => successor, { logger: capturingLogger() });
      t.after(() => session?.shutdown());
      const done = await (session as SessionRuntime).resumeCell(cellId, { approved: true }, LONG_WAIT);
      assert.deepEqual([done.kind, texts(done)], ['completed', ['deployed']], '"before" was handed out with the pause');
    });

  test('over the wire: resumeCell on the recovered session returns what came after the pause', async (t) => {
    const store = sqliteStore({ path: join(tempFolder(t, 'cc-seen-'), 's.db') });
    t.after(() => store.close());
    const old = await HostClient.spawn({ store, leaseMs: 300, processes: 1, logger: capturingLogger() });
    t.after(() => old.close());
    const session = await old.createSession(new RecordingDelegate({ deploy }), { key: 'seen-2', tools: TOOLS });
    const started = await session.execute({ source: SOURCE }, LONG_WAIT);
    const paused = await started.initialEvent;
    assert.deepEqual([paused.kind, texts(paused)], ['interrupted', ['before']]);
    await old.close(); // a deploy: its sessions left to a recovery
    const next = await HostClient.spawn({ store, leaseMs: 300, processes: 1, logger: capturingLogger() });
    t.after(() => next.close());
    const [recovered] = await untilRecovered(() => next.recover(() => new RecordingDelegate({ deploy })));
    const done = await (recovered as RemoteSession).resumeCell(started.cellId, { approved: true }, LONG_WAIT);
    assert.deepEqual([done.kind, texts(done)], ['completed', ['deployed']], '"before" was handed out with the pause');
  });
});
