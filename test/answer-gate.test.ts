// SPEC §16's one gate, on both paths: every answer that reports something durable — a cell's end,
// a pause, a tool result going into a cell, a session event, resumeCell's answer, a notification
// going to the delegate — leaves only once its record is committed. The store here commits each
// append a few turns late and notes what it committed; each answer checks, when it arrives, that
// what it reports is there. A path that went around the gate would find it missing. And a store
// that refuses the session's writes lets no answer out at all.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { HostClient } from '../host/index.js';
import {
  CellInterrupt,
  memoryStore,
  SessionRuntime,
  type CodeCellSession,
  type CodeCellStore,
  type SessionRuntimeDelegate,
} from '../src/index.js';
import { CodeCellError } from '../src/errors.js';
import { storeWith } from './store-contract.js';
import { capturingLogger, deferred, LONG_WAIT, RecordingDelegate, waitFor, type Deferred } from './helpers.js';

type Record = {
  t: string;
  cellId?: string;
  callId?: string;
  event?: { kind?: string; seq?: number; type?: string };
  /** When it was durable (Date.now(), noted by the store). */
  at: number;
};

/** `store` whose appends land 10 ms late; `committed` gets each record once it is durable, with when. */
function laggingStore(store: CodeCellStore, committed: Record[]): CodeCellStore {
  return storeWith(store, 'lagging', {
    append: async (key, epoch, records, summary) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      await store.append(key, epoch, records, summary);
      const at = Date.now();
      for (const text of records) committed.push({ ...(JSON.parse(text) as Omit<Record, 'at'>), at });
    },
  });
}

/** `store` that refuses every append after the first `allowed`, as a store that fenced the writer off. */
function refusingStore(store: CodeCellStore, allowed: number): CodeCellStore {
  let appends = 0;
  return storeWith(store, 'refusing', {
    append: async (...args) => {
      if (++appends > allowed)
        throw new CodeCellError('ERR_SESSION_MOVED', 'session gate-x moved: refused by the test');
      await store.append(...args);
    },
  });
}

interface GatedKind {
  name: string;
  /** Whether its creation is an answer (HostClient.createSession), not a constructor's return. */
  answersCreation: boolean;
  open(t: TestContext, delegate: SessionRuntimeDelegate, store: CodeCellStore, key: string): Promise<CodeCellSession>;
}

const TOOLS = [{ name: 'get' }, { name: 'approve' }, { name: 'mark' }];

const kinds: GatedKind[] = [
  {
    name: 'in process (SessionRuntime)',
    answersCreation: false,
    open: async (t, delegate, store, key) => {
      const session = new SessionRuntime(delegate, { store, key, tools: TOOLS, logger: capturingLogger() });
      t.after(() => session.shutdown());
      return session;
    },
  },
  {
    name: 'over the wire (HostClient)',
    answersCreation: true,
    open: async (t, delegate, store, key) => {
      const client = await HostClient.spawn({ store, processes: 1, logger: capturingLogger() });
      t.after(() => client.close());
      const session = await client.createSession(delegate, { key, tools: TOOLS });
      t.after(() => session.shutdown());
      return session;
    },
  },
];

const has = (records: Record[], match: (record: Record) => boolean): boolean => records.some(match);

for (const kind of kinds) {
  describe(`${kind.name}: nothing leaves before it is durable`, { timeout: 60_000 }, () => {
    test('the session is kept before anything acknowledges it: created, or its first cell admitted', async (t) => {
      // A recovery removes a session whose log holds nothing (its creator died before writing):
      // nothing of it may have been acknowledged then.
      const committed: Record[] = [];
      const session = await kind.open(t, new RecordingDelegate({}), laggingStore(memoryStore(), committed), 'gate-0');
      if (kind.answersCreation)
        assert.ok(
          has([...committed], (record) => record.t === 'session'),
          JSON.stringify(committed.map((record) => record.t)),
        );
      const { cellId } = await session.execute({ source: 'text("x")' }, LONG_WAIT);
      const at = [...committed];
      assert.ok(has(at, (record) => record.t === 'session'));
      // What the cell runs (its admission, or its journal's first part).
      assert.ok(
        has(at, (record) => record.cellId === cellId),
        JSON.stringify(at.map((record) => record.t)),
      );
    });

    test("a cell's end: its end record is committed when the observer gets it", async (t) => {
      const committed: Record[] = [];
      const go = deferred<number>();
      const delegate = new RecordingDelegate({ get: () => go.promise });
      const session = await kind.open(t, delegate, laggingStore(memoryStore(), committed), 'gate-1');
      const { cellId, initialEvent } = await session.execute(
        { source: 'const n = await tools.get({}); text(String(n + Date.now()))' },
        LONG_WAIT,
      );
      // The cell ends after execute answered (its admission's records are long durable then).
      go.resolve(1);
      const end = await initialEvent;
      const at = [...committed];
      assert.equal(end.kind, 'completed');
      assert.ok(
        has(at, (record) => record.t === 'end' && record.cellId === cellId && record.event?.kind === 'completed'),
        JSON.stringify(at.map((record) => record.t)),
      );
    });

    test('a pause: the pause is committed when the observer is told', async (t) => {
      const committed: Record[] = [];
      const delegate = new RecordingDelegate({
        approve: () => {
          throw new CellInterrupt({ ask: 'ok?' });
        },
      });
      const session = await kind.open(t, delegate, laggingStore(memoryStore(), committed), 'gate-2');
      const { initialEvent } = await session.execute({ source: 'await tools.approve({})' }, LONG_WAIT);
      const paused = await initialEvent;
      const at = [...committed];
      assert.equal(paused.kind, 'interrupted');
      assert.ok(
        has(at, (record) => record.t === 'pause' && record.callId === 'tool-1'),
        JSON.stringify(at.map((record) => record.t)),
      );
      assert.ok(has(at, (record) => record.t === 'paused' && record.event?.kind === 'interrupted'));
    });

    test('a tool result goes into the cell once its outcome is committed', async (t) => {
      const committed: Record[] = [];
      const delegate = new RecordingDelegate({ get: () => 41 });
      const session = await kind.open(t, delegate, laggingStore(memoryStore(), committed), 'gate-3');
      const { initialEvent } = await session.execute(
        { source: 'const n = await tools.get({}); text(String(Date.now())); text(n + 1)' },
        LONG_WAIT,
      );
      const [took, result] = (await initialEvent).items.map((item) => ('text' in item ? item.text : ''));
      assert.equal(result, '42');
      // The cell read the clock as soon as it had the result: its outcome was durable by then.
      const outcome = committed.find((record) => record.t === 'outcome' && record.callId === 'tool-1');
      assert.ok(outcome !== undefined && Number(took) >= outcome.at, `took ${took}, durable at ${outcome?.at}`);
    });

    test('a notification goes to the delegate once what counts it is committed', async (t) => {
      const committed: Record[] = [];
      const seen: Record[][] = [];
      const delegate = new RecordingDelegate();
      delegate.notifyHandler = () => void seen.push([...committed]);
      const session = await kind.open(t, delegate, laggingStore(memoryStore(), committed), 'gate-4');
      await (
        await session.execute({ source: "notify('hi'); text('done')" }, LONG_WAIT)
      ).initialEvent;
      assert.equal(seen.length, 1);
      // In process the cell's journal counts it; over the wire the ledger's `notified` record does.
      const counted = (record: Record & { update?: { notifications?: number } }): boolean =>
        record.t === 'notified' || (record.t === 'journal' && (record.update?.notifications ?? 0) > 0);
      assert.ok(has(seen[0] ?? [], counted), JSON.stringify(seen[0]));
    });

    test('session events are handed out once their record is committed', async (t) => {
      const committed: Record[] = [];
      const delegate = new RecordingDelegate({ get: () => 1 });
      const session = await kind.open(t, delegate, laggingStore(memoryStore(), committed), 'gate-5');
      // Followed as they come: each event is checked against the store when it is handed out.
      const early: string[] = [];
      let told = 0;
      const followed = (async () => {
        for await (const event of session.events()) {
          told++;
          if (!has(committed, (record) => record.t === 'event' && record.event?.seq === event.seq))
            early.push(`${event.seq} ${event.type}`);
          if (event.type === 'closed') return;
        }
      })();
      await (
        await session.execute({ source: "await tools.get({}); text('x')" }, LONG_WAIT)
      ).initialEvent;
      await followed;
      assert.deepEqual(early, [], 'handed out before their record was durable');
      assert.ok(told >= 4, `only ${told} events`);
    });

    test("resumeCell's answer: a decline is committed before the cell hears it, the end before the answer", async (t) => {
      const committed: Record[] = [];
      const delegate = new RecordingDelegate({
        approve: () => {
          throw new CellInterrupt({ ask: 'ok?' });
        },
      });
      const session = await kind.open(t, delegate, laggingStore(memoryStore(), committed), 'gate-6');
      const { cellId, initialEvent } = await session.execute(
        { source: 'try { await tools.approve({}) } catch (e) { text(e.message) }' },
        LONG_WAIT,
      );
      assert.equal((await initialEvent).kind, 'interrupted');
      const end = await session.resumeCell(cellId, { declined: true }, LONG_WAIT);
      const at = [...committed];
      assert.equal(end.kind, 'completed');
      assert.match(String(end.items[0] && 'text' in end.items[0] ? end.items[0].text : ''), /a person declined/);
      assert.ok(has(at, (record) => record.t === 'outcome' && record.callId === 'tool-1'));
      assert.ok(has(at, (record) => record.t === 'end' && record.event?.kind === 'completed'));
    });

    test('a frontier asked right after the delegate answered is not ahead of those answers', async (t) => {
      const committed: Record[] = [];
      const answers = [deferred<number>(), deferred<number>()];
      let asked = 0;
      const delegate = new RecordingDelegate({ get: () => (answers[asked++] as Deferred<number>).promise });
      const session = await kind.open(t, delegate, laggingStore(memoryStore(), committed), 'gate-7');
      const { cellId } = await session.execute(
        { source: 'const [a, b] = await Promise.all([tools.get({}), tools.get({})]); text(a + b)' },
        { kind: 'yieldAfter', ms: 0 },
      );
      await waitFor(() => delegate.calls.length === 2);
      for (const [n, answer] of answers.entries()) answer.resolve(n + 1);
      // Both answers were given before this question: held for their records, they still come first.
      const seen = await session.observe(cellId, { kind: 'pendingFrontier' });
      assert.deepEqual([seen.kind, seen.items], ['completed', [{ type: 'text', text: '3' }]]);
    });

    test('a store that refuses the writes lets no answer out: the session ends saying why', async (t) => {
      const delegate = new RecordingDelegate({ get: () => 1 });
      // The session's creation and its first records land; what comes after is refused.
      const session = await kind.open(t, delegate, refusingStore(memoryStore(), 2), 'gate-x');
      // Refused at its admission (its id is never given out) or at its call: never told an end.
      const told = session
        .execute({ source: "await tools.get({}); text('never told')" }, LONG_WAIT)
        .then((started) => started.initialEvent);
      await assert.rejects(told, { code: 'ERR_SESSION_MOVED' });
      assert.equal(session.isAlive, false);
    });
  });
}
