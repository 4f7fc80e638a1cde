// SPEC §16's durable cursor: session stream events carry `seq` (one more per event of the
// session), `events({ after })` continues after any kept one, and with a store an event is handed
// out only once it is durable, so a stream continued on a recovered session loses nothing and
// repeats nothing — each cell's end reaches it once.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { SessionRuntime, type SessionStreamEvent } from '../src/index.js';
import { memoryStore } from '../src/store/memory-store.js';
import { sqliteStore } from '../src/store/sqlite-store.js';
import type { CodeCellStore } from '../src/store/store.js';
import { cursorAfter, readLog } from '../src/ledger/log-records.js';
import { compactLog } from '../src/ledger/log-compaction.js';
import { SessionCursor } from '../src/streams/session-cursor.js';
import { storeWith } from './store-contract.js';
import { capturingLogger, hang, LONG_WAIT, RecordingDelegate, stall, tempFolder, texts } from './helpers.js';

const TOOLS = [{ name: 'lookup' }, { name: 'rate', idempotent: true }];

/** Reads `stream` until `last` says an event is the last one wanted. */
async function readUntil(
  stream: AsyncIterator<SessionStreamEvent>,
  last: (event: SessionStreamEvent) => boolean,
): Promise<SessionStreamEvent[]> {
  const read: SessionStreamEvent[] = [];
  for (;;) {
    const next = await stream.next();
    if (next.done === true) return read;
    read.push(next.value);
    if (last(next.value)) return read;
  }
}

/** An event as a short line: its cell, kind, and text or tool. */
const line = (event: SessionStreamEvent): string => {
  const cell = 'cellId' in event ? event.cellId : '';
  if (event.type === 'output') return `${cell} output ${event.item.type === 'text' ? event.item.text : ''}`;
  if (event.type === 'toolCall') return `${cell} toolCall ${event.tool.name}`;
  if (event.type === 'closed') return `${cell} closed ${event.event.kind}`;
  return `${cell} ${event.type}`;
};

describe('session stream events carry seq; events({ after }) continues', { timeout: 60_000 }, () => {
  test('without a store: seq counts every event of the session; after gives the kept ones after it', async (t) => {
    const session = new SessionRuntime(new RecordingDelegate({ lookup: () => 3 }), { tools: TOOLS });
    t.after(() => session.shutdown());
    const all = session.events();
    for (const source of ["text('a')", "const n = await tools.lookup({}); text('b' + n)"]) {
      const { initialEvent } = await session.execute({ source }, LONG_WAIT);
      assert.equal((await initialEvent).kind, 'completed');
    }
    const read = await readUntil(all, (event) => event.type === 'closed' && 'cellId' in event && event.cellId === '2');
    assert.deepEqual(
      read.map((event) => event.seq),
      read.map((_, index) => index + 1),
    );
    assert.deepEqual(read.map(line), [
      '1 admitted',
      '1 output a',
      '1 closed completed',
      '2 admitted',
      '2 toolCall lookup',
      '2 toolResult',
      '2 output b3',
      '2 closed completed',
    ]);
    // A stream that continues after seq 3: the second cell's events, the same numbers.
    const after = session.events({ after: 3 });
    const again = await readUntil(after, (event) => event.seq === 8);
    assert.deepEqual(again, read.slice(3));
    // From 0: all of them; past the newest, or not a seq: refused.
    assert.deepEqual(await readUntil(session.events({ after: 0 }), (event) => event.seq === 8), read);
    assert.throws(() => session.events({ after: 9 }), { code: 'ERR_INVALID_REQUEST', message: /newest event is 8/ });
    for (const after of [-1, 1.5, '2', null])
      assert.throws(() => session.events({ after: after as number }), { code: 'ERR_INVALID_REQUEST' });
  });

  test('events older than the kept ones are told as one gap whose seq is the newest it stands for', async (t) => {
    const session = new SessionRuntime(new RecordingDelegate({}), {});
    t.after(() => session.shutdown());
    const all = session.events();
    await session.execute({ source: 'for (let i = 0; i < 1100; i++) text(String(i))' }, LONG_WAIT);
    await readUntil(all, (event) => event.type === 'closed');
    // 1 admitted + 1 100 outputs + closed = 1 102 events; the newest 1 024 are kept (79 … 1 102).
    const [gap, first] = await readUntil(session.events({ after: 5 }), (event) => event.seq === 79);
    assert.deepEqual(gap, { cellId: '', type: 'gap', dropped: 73, seq: 78 });
    assert.equal(first?.seq, 79);
  });
});

const stores: { name: string; open(t: TestContext): CodeCellStore }[] = [
  { name: 'memoryStore', open: () => memoryStore() },
  { name: 'sqliteStore', open: (t) => sqliteStore({ path: join(tempFolder(t, 'codecell-cursor-'), 's.db') }) },
];

for (const kind of stores) {
  describe(`${kind.name}: a durable cursor`, { timeout: 60_000 }, () => {
    test('each event is in the store before a subscriber gets it', async (t) => {
      const store = kind.open(t);
      t.after(() => store.close());
      const session = new SessionRuntime(new RecordingDelegate({ lookup: () => 1 }), {
        store,
        key: 'c-1',
        tools: TOOLS,
      });
      t.after(() => session.shutdown());
      const stream = session.events();
      const source = "text('x'); await tools.lookup({}); notify('n'); text('y')";
      const { initialEvent } = await session.execute({ source }, LONG_WAIT);
      assert.deepEqual(texts(await initialEvent), ['x', 'y']);
      for (;;) {
        const { value: event } = await stream.next();
        const records = ((await store.records('c-1')) ?? []).map(
          (text) => JSON.parse(text) as { t: string; event?: SessionStreamEvent },
        );
        const written = records.filter((record) => record.t === 'event').map((record) => record.event?.seq);
        assert.ok(
          written.includes(event.seq),
          `event ${event.seq} (${event.type}) was handed out before it was written`,
        );
        if (event.type === 'closed') break;
      }
    });

    test('a stream continued after a recovery: nothing lost, nothing repeated, each end once', async (t) => {
      const store = kind.open(t);
      t.after(() => store.close());
      const first = new RecordingDelegate({ lookup: () => 2, rate: hang });
      const owner = new SessionRuntime(first, {
        store,
        key: 'c-2',
        tools: TOOLS,
        leaseMs: 300,
        logger: capturingLogger(),
      });
      t.after(() => owner.shutdown());
      const stream = owner.events();
      const done = await owner.execute({ source: "text('one')" }, LONG_WAIT);
      assert.equal((await done.initialEvent).kind, 'completed');
      const source =
        "text('a'); const n = await tools.lookup({}); text('b' + n); const r = await tools.rate({}); text('c' + r)";
      await owner.execute({ source }, { kind: 'yieldAfter', ms: 0 });
      // The agent read up to the rate call's event, and its process stops (past its lease).
      const seen = await readUntil(stream, (event) => event.type === 'toolCall' && event.tool.name === 'rate');
      stall(400);
      const second = new RecordingDelegate({ rate: () => 7 });
      const recovered = await SessionRuntime.recover(storeWith(store, 'another process', {}), () => second, {
        logger: capturingLogger(),
      });
      for (const session of recovered) t.after(() => session.shutdown());
      const session = recovered[0] as SessionRuntime;
      const lastSeen = seen.at(-1)?.seq as number;
      const rest = await readUntil(session.events({ after: lastSeen }), (event) => event.type === 'closed');
      const all = [...seen, ...rest];
      assert.deepEqual(
        all.map((event) => event.seq),
        all.map((_, index) => index + 1),
      );
      assert.deepEqual(all.map(line), [
        '1 admitted',
        '1 output one',
        '1 closed completed',
        '2 admitted',
        '2 output a',
        '2 toolCall lookup',
        '2 toolResult',
        '2 output b2',
        '2 toolCall rate',
        '2 toolResult',
        '2 output c7',
        '2 closed completed',
      ]);
      // A stream that continues from an earlier point gives the same events, the same numbers.
      assert.deepEqual(
        await readUntil(session.events({ after: 1 }), (event) => event.type === 'closed' && event.seq > 3),
        all.slice(1),
      );
      // The next cell continues the numbering.
      const next = session.events();
      await session.execute({ source: "text('later')" }, LONG_WAIT);
      const [admitted] = await readUntil(next, () => true);
      assert.deepEqual(admitted, { cellId: '3', type: 'admitted', seq: all.length + 1 });
    });

    test('past the newest event: a former owner asks its store, and its stream fails with ERR_SESSION_MOVED', async (t) => {
      const store = kind.open(t);
      t.after(() => store.close());
      // The former owner's renewals hang (a paused process), so it has not noticed its lease ran out.
      let renewals: 'hang' | 'pass' = 'hang';
      const slow = storeWith(store, 'slow', {
        renew: (...args) => (renewals === 'hang' ? new Promise<never>(() => {}) : store.renew(...args)),
      });
      const logger = capturingLogger();
      const owner = new SessionRuntime(new RecordingDelegate({}), { store: slow, key: 'c-3', leaseMs: 200, logger });
      t.after(() => owner.shutdown());
      const own = owner.events();
      await owner.execute({ source: "text('a')" }, LONG_WAIT);
      assert.equal((await readUntil(own, (event) => event.type === 'closed')).length, 3);
      // Its own newest event (3): past it is refused; the store says it still holds the session.
      renewals = 'pass';
      const refused = owner.events({ after: 4 });
      await assert.rejects(refused.next(), { code: 'ERR_INVALID_REQUEST', message: /newest event is 3/ });
      renewals = 'hang';
      await new Promise((resolve) => setTimeout(resolve, 300));
      const [next] = await SessionRuntime.recover(
        storeWith(store, 'another process', {}),
        () => new RecordingDelegate({}),
        { logger },
      );
      t.after(() => next?.shutdown());
      const its = next!.events();
      await next!.execute({ source: "text('b')" }, LONG_WAIT);
      assert.equal((await readUntil(its, (event) => event.type === 'closed')).at(-1)?.seq, 6);
      // A follower read seq 6 from the new owner; the former one is asked to continue after it.
      renewals = 'pass';
      const moved = owner.events({ after: 6 });
      await assert.rejects(moved.next(), { code: 'ERR_SESSION_MOVED' });
      await assert.rejects(owner.execute({ source: "text('c')" }), { code: 'ERR_SESSION_MOVED' });
    });
  });
}

describe('the stream in the log', { timeout: 10_000 }, () => {
  const session = JSON.stringify({ t: 'session', options: { key: 's' } });
  const event = (seq: number, cellId: string, type = 'output'): string =>
    JSON.stringify({
      t: 'event',
      event:
        type === 'admitted'
          ? { cellId, type, seq }
          : { cellId, type: 'output', item: { type: 'text', text: `${seq}` }, seq },
    });

  test('a compaction keeps the newest 1 024 events and every event of an open cell', () => {
    const texts = [session, event(1, '1', 'admitted'), event(2, '1')];
    for (let seq = 3; seq <= 1_200; seq++) texts.push(event(seq, '2'));
    const kept = compactLog(texts, new Set(['1']));
    const seqs = kept.slice(1).map((text) => (JSON.parse(text) as { event: { seq: number } }).event.seq);
    assert.deepEqual(seqs, [1, 2, ...Array.from({ length: 1_024 }, (_, index) => 177 + index)]);
    // Read back: the newest 1 024, the numbering goes on after 1 200.
    assert.deepEqual(
      readLog(kept).events.map((read) => read.seq),
      Array.from({ length: 1_024 }, (_, index) => 177 + index),
    );
  });

  test('a cell whose admission was told, and nothing else written of it, is one the recovery ends', () => {
    const read = readLog([session, event(1, '4', 'admitted')]);
    assert.deepEqual(read.ledger.cellIds, ['4']);
    assert.equal(read.ledger.restore().nextCellId, 5);
    assert.equal(typeof read.ledger.replayable('4'), 'string');
  });

  test('an end an answer handed out that the stream never told is told first when it goes on, and kept until told', async () => {
    const end = JSON.stringify({ t: 'end', cellId: '3', event: { kind: 'completed', cellId: '3', items: [] } });
    const closed = JSON.stringify({
      t: 'event',
      event: { cellId: '3', type: 'closed', event: { kind: 'completed', cellId: '3', items: [] }, seq: 3 },
    });
    const texts = [session, event(1, '3', 'admitted'), event(2, '3'), end];
    const written: unknown[] = [];
    const cursor = new SessionCursor(
      cursorAfter(
        readLog(texts),
        async (told) => void written.push(told),
        async () => undefined,
      ),
      (told) => told,
    );
    const [next] = await readUntil(cursor.subscribe(2), () => true);
    assert.deepEqual(next, {
      cellId: '3',
      type: 'closed',
      event: { kind: 'completed', cellId: '3', items: [] },
      seq: 3,
    });
    assert.deepEqual(written, [next]);
    // Until the stream tells that end, a compaction keeps it; then it goes, and nothing is told again.
    assert.ok(compactLog(texts, new Set()).includes(end));
    assert.equal(compactLog([...texts, closed], new Set()).includes(end), false);
    assert.equal(readLog([...texts, closed]).ends.size, 0);
    assert.equal(
      readLog([session, event(1, '3', 'admitted'), closed, end]).ends.size,
      0,
      'told before it was handed out',
    );
  });
});
