// SPEC §16 across a real kill -9 of an agent process (fixtures/store-agent.ts): another process
// recovers its session — completed cells stand, the call in doubt is reported, the approval waits
// through two recoveries; an approved call in flight is in doubt after, and an end it saw stands
// (crash-promises.ts, on SQLite here and on PostgreSQL in postgres-store.test.ts). And a session
// built with SessionBuilder#withStore is kept where its builder says.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SessionRuntime } from '../src/index.js';
import { SessionBuilder, type HostClient } from '../host/index.js';
import { memoryStore } from '../src/store/memory-store.js';
import { sqliteStore } from '../src/store/sqlite-store.js';
import type { CodeCellStore } from '../src/store/store.js';
import { AGENT_CELLS, AGENT_TOOLS } from './fixtures/store-agent.js';
import { crashAgent, untilRecovered } from './agent-process.js';
import { crashPromises } from './crash-promises.js';
import { storeWith } from './store-contract.js';
import { capturingLogger, hang, LONG_WAIT, RecordingDelegate, stall, tempFolder, texts } from './helpers.js';

/** The same store as another agent process holds it (a recovery never adopts what its own process drives). */
const elsewhere = (store: CodeCellStore): CodeCellStore => storeWith(store, 'another process', {});

describe('SessionBuilder#withStore', { timeout: 30_000 }, () => {
  test('an embedded session built with a store is kept there; on a host it is the client that keeps them', async (t) => {
    const store = memoryStore();
    t.after(() => store.close());
    const delegate = new RecordingDelegate({ lookup: () => ({ n: 1 }) });
    const session = await new SessionBuilder({ key: 'built-1', logger: capturingLogger() })
      .withTools([{ name: 'lookup' }], delegate)
      .withStore(store, { metadata: { team: 'a' } })
      .start();
    t.after(() => session.shutdown());
    const { initialEvent } = await session.execute({ source: 'text((await tools.lookup({})).n)' }, LONG_WAIT);
    assert.deepEqual(texts(await initialEvent), ['1']);
    const listed = await store.sessions();
    assert.deepEqual(
      listed.map(({ key, metadata }) => ({ key, metadata })),
      [{ key: 'built-1', metadata: { team: 'a' } }],
    );
    const host = {} as HostClient;
    assert.throws(() => new SessionBuilder({ host }).withStore(store), {
      code: 'ERR_INVALID_REQUEST',
      message: 'withStore keeps an in-process session; on a host, give the store to HostClient.spawn or connect',
    });
  });
});

describe('an agent process killed with -9, its session recovered by another', { timeout: 60_000 }, () => {
  test('completed cells stand, the call in doubt is reported, the approval waits through two recoveries', async (t) => {
    const path = join(tempFolder(t, 'codecell-agent-'), 'agent.db');
    assert.equal(await crashAgent(t, path), 'READY interrupted');

    const store = sqliteStore({ path });
    t.after(() => store.close());
    const [listed] = await store.sessions();
    assert.deepEqual(
      { key: listed?.key, openCells: listed?.openCells, pausedCells: listed?.pausedCells, metadata: listed?.metadata },
      { key: 'agent-1', openCells: 2, pausedCells: 1, metadata: { user: 'ada' } },
    );
    // Its lease (500 ms) runs out: recover adopts it then, not before.
    const delegate = new RecordingDelegate({
      lookup: () => ({ n: -1 }),
      charge: () => 'twice!',
      rate: () => 2,
      approve: (call) => (call.approved === true ? 'yes' : hang()),
    });
    const recovered = await untilRecovered(() =>
      SessionRuntime.recover(store, () => delegate, { leaseMs: 300, logger: capturingLogger() }),
    );
    for (const session of recovered) t.after(() => session.shutdown());
    const session = recovered[0] as SessionRuntime;

    // The charge was started and never answered: in doubt, reported, not made again.
    const inDoubt = await session.observe('2', LONG_WAIT);
    assert.deepEqual(
      inDoubt.kind === 'interrupted' && [inDoubt.reason, inDoubt.tool, inDoubt.input, inDoubt.idempotencyKey],
      ['inDoubt', { name: 'charge' }, { amount: 7 }, 'agent-1:2:tool-2'],
    );
    assert.equal(delegate.calls.length, 0);
    const end = await session.resumeCell('2', { result: 'done' }, LONG_WAIT);
    // As a run without the crash ends, had the charge answered 'done'.
    const witness = new SessionRuntime(
      new RecordingDelegate({
        lookup: (call) => ({ n: (call.input as { n: number }).n * 2 }),
        charge: () => 'done',
        rate: () => 2,
      }),
      { tools: AGENT_TOOLS, logger: capturingLogger() },
    );
    t.after(() => witness.shutdown());
    const expected = await (await witness.execute({ source: AGENT_CELLS[1] as string }, LONG_WAIT)).initialEvent;
    // (What it printed before the crash comes again, in the event it paused with: this process saw none of it.)
    assert.deepEqual([end.kind, [...texts(inDoubt), ...texts(end)]], [expected.kind, texts(expected)]);
    assert.deepEqual(
      delegate.calls.map((call) => call.tool.name),
      ['rate'],
    );

    // Days later (another recovery: this owner stalls past its lease), the approval is still asked for.
    stall(400);
    const again = await SessionRuntime.recover(elsewhere(store), () => delegate, { logger: capturingLogger() });
    for (const each of again) t.after(() => each.shutdown());
    const later = again[0] as SessionRuntime;
    const asked = await later.observe('3', LONG_WAIT);
    assert.deepEqual(asked.kind === 'interrupted' && [asked.tool, asked.payload], [
      { name: 'approve' },
      { ask: 'deploy?' },
    ]);
    const approved = await later.resumeCell('3', { approved: true }, LONG_WAIT);
    assert.deepEqual([approved.kind, texts(approved)], ['completed', ['approved yes']]);
    // Stored values and cell ids continue.
    const next = await later.execute({ source: "text('total=' + load('total'))" }, LONG_WAIT);
    assert.deepEqual([next.cellId, texts(await next.initialEvent)], ['4', ['total=6']]);
    await assert.rejects(session.execute({ source: 'text(1)' }), { code: 'ERR_SESSION_MOVED' });
  });
});

crashPromises({
  name: 'sqliteStore',
  where: (t) => join(tempFolder(t, 'codecell-crash-'), 'agent.db'),
  open: (t, path) => {
    const store = sqliteStore({ path });
    t.after(() => store.close());
    return store;
  },
});
