// Cell ids across a compaction (SPEC §16, "Keys"): a session's log compacted just after a cell's
// end, before its stream told that end, keeps of that cell only its end and its stream's events.
// A recovery from it must still count the cell: the next cell gets a new id, its calls new
// idempotency keys — a repeated key made a call that is not idempotent twice (the nemesis, CI).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { memoryStore, SessionRuntime, sqliteStore, type CodeCellStore } from '../src/index.js';
import { compactLog } from '../src/internal.js';
import { storeWith } from './store-contract.js';
import { capturingLogger, LONG_WAIT, RecordingDelegate, tempFolder } from './helpers.js';

const TOOLS = [{ name: 'lookup' }];

const stores: { name: string; open(t: TestContext): CodeCellStore }[] = [
  { name: 'memoryStore', open: () => memoryStore() },
  { name: 'sqliteStore', open: (t) => sqliteStore({ path: join(tempFolder(t, 'codecell-ids-'), 's.db') }) },
];

for (const kind of stores) {
  describe(`${kind.name}: cell ids after a compaction`, { timeout: 60_000 }, () => {
    test("a log compacted just after a cell's end still holds its id: the next cell's keys are new", async (t) => {
      // The session's log as its owner wrote it: three cells, the last one's end written (its
      // answer waits for it), its stream's `closed` event not yet (that goes with a later write).
      const first = memoryStore();
      const delegate = new RecordingDelegate({ lookup: () => 1 });
      const owner = new SessionRuntime(delegate, {
        store: first,
        key: 'kept',
        tools: TOOLS,
        logger: capturingLogger(),
      });
      t.after(() => owner.shutdown());
      for (let n = 0; n < 3; n++) {
        const cell = await owner.execute({ source: 'text(String(await tools.lookup({})))' }, LONG_WAIT);
        assert.equal((await cell.initialEvent).kind, 'completed');
      }
      const written = ((await first.records('kept')) ?? []).filter(
        (text) => !(text.includes('"type":"closed"') && text.includes('"cellId":"3"')),
      );
      // A compaction then (no cell open) leaves of cell 3 its end and its stream's events alone.
      const compacted = compactLog(written, new Set());
      assert.deepEqual(
        compacted.filter((text) => text.includes('"cellId":"3"')).map((text) => (JSON.parse(text) as { t: string }).t),
        ['event', 'event', 'event', 'event', 'end'],
      );
      // Its owner stopped there; another process recovers the session.
      const store = kind.open(t);
      t.after(() => store.close());
      const other = storeWith(store, 'another process', {});
      const lease = await other.create('kept', 'gone', 1, null);
      await other.append('kept', lease.epoch, compacted);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const recovered = await SessionRuntime.recover(store, () => delegate, { logger: capturingLogger() });
      for (const session of recovered) t.after(() => session.shutdown());
      const cell = await (recovered[0] as SessionRuntime).execute({ source: 'text(String(await tools.lookup({})))' });
      assert.equal(cell.cellId, '4');
      assert.equal((await cell.initialEvent).kind, 'completed');
      assert.deepEqual(
        delegate.calls.map((call) => call.idempotencyKey),
        ['kept:1:tool-1', 'kept:2:tool-1', 'kept:3:tool-1', 'kept:4:tool-1'],
      );
    });
  });
}
