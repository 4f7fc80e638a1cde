// A store that fails an append rather than refusing it (its server restarted, a connection
// dropped): the session's log tries it again — after asking whether it landed before its answer
// was lost — so nothing is written twice and the session goes on (SPEC §16, ADR 21).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SessionRuntime } from '../src/index.js';
import { memoryStore } from '../src/store/memory-store.js';
import type { CodeCellStore } from '../src/store/store.js';
import { capturingLogger, LONG_WAIT, RecordingDelegate, texts } from './helpers.js';
import { storeWith } from './store-contract.js';

const TOOLS = [{ name: 'lookup' }];

/** The session's records, parsed. */
const recordsOf = async (store: CodeCellStore, key: string): Promise<{ t: string }[]> =>
  ((await store.records(key)) ?? []).map((text) => JSON.parse(text) as { t: string });

describe('a store that fails an append (not refuses it)', { timeout: 60_000 }, () => {
  /** memoryStore whose appends fail as `fails` says for the nth one: before it lands, or after. */
  function failing(fails: (n: number) => 'before' | 'after' | undefined): CodeCellStore {
    const store = memoryStore();
    let appends = 0;
    return storeWith(store, 'failing', {
      append: async (...args) => {
        const how = fails(++appends);
        if (how === 'before') throw new Error('connection reset');
        await store.append(...args);
        if (how === 'after') throw new Error('connection reset after commit');
      },
    });
  }

  for (const how of ['before', 'after'] as const)
    test(`failed ${how} it landed: tried again, written once, the session goes on`, async (t) => {
      const store = failing((n) => (n === 4 || n === 5 ? how : undefined));
      t.after(() => store.close());
      const delegate = new RecordingDelegate({ lookup: (call) => (call.input as { n: number }).n });
      const session = new SessionRuntime(delegate, { store, key: 'f', tools: TOOLS, logger: capturingLogger() });
      t.after(() => session.shutdown());
      const source = 'let sum = 0; for (let n = 1; n <= 6; n++) sum += await tools.lookup({ n }); text(String(sum))';
      const { initialEvent } = await session.execute({ source }, LONG_WAIT);
      assert.deepEqual(texts(await initialEvent), ['21']);
      const records = await recordsOf(store, 'f');
      const texts6 = records.map((record) => JSON.stringify(record));
      assert.equal(new Set(texts6).size, texts6.length, 'no record written twice');
      assert.equal(records.filter((record) => record.t === 'outcome').length, 6);
    });
});
