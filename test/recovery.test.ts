// SPEC §16 in one process: a SessionRuntime with a store writes each call ahead (its `started`
// record before the delegate runs, its outcome before the cell takes it), and when its owner stops
// renewing its lease, SessionRuntime.recover adopts it — stored values and cell ids continue,
// answered calls are not made again, an idempotent call in doubt is made again with its key, any
// other pauses its cell `inDoubt` — and the former owner is refused (ERR_SESSION_MOVED).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import {
  CellInterrupt,
  createCodeModeTools,
  describePause,
  SessionRuntime,
  type CellPause,
  type NestedToolCall,
  type SessionRuntimeDelegate,
} from '../src/index.js';
import { memoryStore } from '../src/store/memory-store.js';
import { sqliteStore } from '../src/store/sqlite-store.js';
import type { CodeCellStore } from '../src/store/store.js';
import { storeWith } from './store-contract.js';
import { capturingLogger, hang, LONG_WAIT, RecordingDelegate, stall, tempFolder, texts, waitFor } from './helpers.js';

const TOOLS = [{ name: 'lookup' }, { name: 'charge' }, { name: 'rate', idempotent: true }];

const stores: { name: string; open(t: TestContext): CodeCellStore }[] = [
  { name: 'memoryStore', open: () => memoryStore() },
  { name: 'sqliteStore', open: (t) => sqliteStore({ path: join(tempFolder(t, 'codecell-recovery-'), 's.db') }) },
];

/**
 * The same store as another agent process holds it: a recovery in this process never adopts a
 * session this process still drives (SPEC §16), so the tests' successors recover through this.
 */
const elsewhere = (store: CodeCellStore): CodeCellStore => storeWith(store, 'another process', {});

/** The records of the session, parsed. */
const recordsOf = async (store: CodeCellStore, key: string): Promise<{ t: string; [field: string]: unknown }[]> =>
  ((await store.records(key)) ?? []).map((text) => JSON.parse(text) as { t: string });

for (const kind of stores) {
  describe(`${kind.name}: a session kept in a store`, { timeout: 60_000 }, () => {
    test("a session left before its first record is removed; one with only its options keeps its key's ids", async (t) => {
      const store = kind.open(t);
      t.after(() => store.close());
      const other = elsewhere(store);
      // An agent stopped between creating a session and writing anything of it.
      await other.create('blank', 'gone', 1, null);
      // Another, in its key's second lifetime (the first ended at cell 11), wrote only its options.
      await other.create('ids', 'gone', 60_000, null);
      await other.remove('ids', 1, 12);
      const lease = await other.create('ids', 'gone', 1, null);
      await other.append('ids', lease.epoch, ['{"t":"session","options":{"tools":[{"name":"lookup"}],"key":"ids"}}']);
      await new Promise((resolve) => setTimeout(resolve, 20));

      const delegate = new RecordingDelegate({ lookup: () => 1 });
      const logger = capturingLogger();
      const recovered = await SessionRuntime.recover(store, () => delegate, { logger });
      for (const session of recovered) t.after(() => session.shutdown());
      assert.deepEqual(
        recovered.map((session) => session.key),
        ['ids'],
      );
      const cell = await (recovered[0] as SessionRuntime).execute({ source: 'text(String(await tools.lookup({})))' });
      assert.equal(cell.cellId, '12');
      assert.equal((await cell.initialEvent).kind, 'completed');
      assert.deepEqual(
        delegate.calls.map((call) => call.idempotencyKey),
        ['ids:12:tool-1'],
      );
      // The blank one is gone, its key free again; a recovery says so.
      assert.equal(await store.records('blank'), undefined);
      assert.deepEqual(logger.warnings, [
        'codecell: session blank was not recovered: its creator stopped before writing anything of it: removed, its key is free again',
      ]);
      const again = new SessionRuntime(delegate, { store, key: 'blank', tools: TOOLS, logger });
      t.after(() => again.shutdown());
      assert.equal((await again.execute({ source: 'text("x")' })).cellId, '1');
    });

    test('a call is started in the store before its delegate runs, answered there before the cell goes on', async (t) => {
      const store = kind.open(t);
      t.after(() => store.close());
      const seen: string[][] = [];
      const delegate = new RecordingDelegate({
        lookup: async (call) => {
          seen.push((await recordsOf(store, 'chat-1')).map((record) => `${record.t}:${String(record.callId ?? '')}`));
          return { n: (call.input as { n: number }).n * 2 };
        },
      });
      let counted: unknown;
      delegate.notifyHandler = async () => {
        const journal = (await recordsOf(store, 'chat-1')).filter((record) => record.t === 'journal');
        const sent = journal.map((record) => (record.update as { notifications?: number } | undefined)?.notifications);
        counted = sent.filter((count) => count !== undefined).at(-1);
      };
      const session = new SessionRuntime(delegate, { store, key: 'chat-1', tools: TOOLS, logger: capturingLogger() });
      t.after(() => session.shutdown());
      const { initialEvent } = await session.execute(
        {
          source:
            "notify('hi'); const a = await tools.lookup({ n: 1 }); const b = await tools.lookup({ n: a.n }); text(b.n)",
        },
        LONG_WAIT,
      );
      assert.deepEqual(texts(await initialEvent), ['4']);
      // The notification was counted in the journal before the delegate got it (it is not sent twice).
      assert.equal(counted, 1);
      // The first call was in the store as started when its delegate ran; the second saw its outcome too.
      assert.ok(seen[0]?.includes('started:tool-1'), String(seen[0]));
      assert.ok(!seen[0]?.includes('outcome:tool-1'));
      assert.ok(seen[1]?.includes('outcome:tool-1') && seen[1].includes('started:tool-2'), String(seen[1]));
      const started = (await recordsOf(store, 'chat-1')).find((record) => record.t === 'started');
      assert.deepEqual(
        { tool: started?.tool, input: started?.input, key: started?.idempotencyKey },
        { tool: { name: 'lookup' }, input: { n: 1 }, key: 'chat-1:1:tool-1' },
      );
      // A session shut down is gone from the store.
      await session.shutdown();
      assert.equal(await store.records('chat-1'), undefined);
    });

    test('recover: answered calls come from the record, an idempotent one in doubt is made again, another pauses', async (t) => {
      const store = kind.open(t);
      t.after(() => store.close());
      const first = new RecordingDelegate({
        lookup: (call) => ({ n: (call.input as { n: number }).n * 2 }),
        charge: hang,
        rate: hang,
      });
      const owner = new SessionRuntime(first, {
        store,
        key: 'chat-2',
        tools: TOOLS,
        leaseMs: 300,
        metadata: { user: 'ada' },
        logger: capturingLogger(),
      });
      t.after(() => owner.shutdown());
      const done = await owner.execute(
        { source: "const a = await tools.lookup({ n: 2 }); store('k', a.n); text(a.n)" },
        LONG_WAIT,
      );
      assert.deepEqual(texts(await done.initialEvent), ['4']);
      const source =
        "notify('once'); const s = await tools.lookup({ n: 5 }); text('s=' + s.n);" +
        "const [c, r] = await Promise.all([tools.charge({ amount: 5 }), tools.rate({})]); text('c=' + c + ' r=' + r)";
      await owner.execute({ source }, { kind: 'yieldAfter', ms: 0 });
      await waitFor(() => first.calls.length === 4);
      const charged = first.calls.find((call) => call.tool.name === 'charge') as NestedToolCall;
      const rated = first.calls.find((call) => call.tool.name === 'rate') as NestedToolCall;

      // The owner stalls past its lease: another owner adopts the session.
      stall(400);
      const second = new RecordingDelegate({ lookup: () => ({ n: -1 }), charge: () => 'twice!', rate: () => 1.5 });
      const infos: unknown[] = [];
      const recovered = await SessionRuntime.recover(
        elsewhere(store),
        (info) => {
          infos.push(info);
          return second as SessionRuntimeDelegate;
        },
        { logger: capturingLogger() },
      );
      for (const session of recovered) t.after(() => session.shutdown());
      assert.deepEqual(infos, [{ key: 'chat-2', tools: TOOLS, metadata: { user: 'ada' } }]);
      assert.equal(recovered.length, 1);
      const session = recovered[0] as SessionRuntime;
      assert.equal(session.key, 'chat-2');

      // The charge is in doubt and not idempotent: the cell pauses at it; the rate is made again, same key.
      const paused = await session.observe('2', LONG_WAIT);
      assert.equal(paused.kind, 'interrupted');
      assert.deepEqual(
        paused.kind === 'interrupted' && {
          reason: paused.reason,
          callId: paused.callId,
          tool: paused.tool,
          input: paused.input,
          idempotencyKey: paused.idempotencyKey,
        },
        {
          reason: 'inDoubt',
          callId: charged.callId,
          tool: { name: 'charge' },
          input: { amount: 5 },
          idempotencyKey: charged.idempotencyKey,
        },
      );
      assert.equal(charged.idempotencyKey, `chat-2:2:${charged.callId}`);
      // Made again once its `started` record is durable (with SQLite, maybe at the end of this turn).
      await waitFor(() => second.calls.length > 0);
      assert.deepEqual(
        second.calls.map((call) => [call.tool.name, call.idempotencyKey]),
        [['rate', rated.idempotencyKey]],
      );
      // The agent says the charge did happen: the cell goes on with it.
      const end = await session.resumeCell('2', { result: 'ok' }, LONG_WAIT);
      assert.equal(end.kind, 'completed');
      assert.ok(texts(end).includes('c=ok r=1.5'), String(texts(end)));
      assert.equal(second.calls.filter((call) => call.tool.name !== 'rate').length, 0);
      // Its notification reached the first delegate; the run again does not send it again.
      assert.deepEqual([first.notifications.length, second.notifications.length], [1, 0]);

      // Stored values and cell ids continue.
      const next = await session.execute({ source: "text(load('k'))" }, LONG_WAIT);
      assert.equal(next.cellId, '3');
      assert.deepEqual(texts(await next.initialEvent), ['4']);

      // The former owner is fenced off: its next write is refused, and it ends, ERR_SESSION_MOVED.
      await assert.rejects(owner.execute({ source: 'text(1)' }), { code: 'ERR_SESSION_MOVED' });
      await assert.rejects(owner.execute({ source: 'text(1)' }), { code: 'ERR_SESSION_MOVED' });
    });

    test('a cell that keeps no journal cannot run again: it ends agentLost, its call in doubt listed', async (t) => {
      const store = kind.open(t);
      t.after(() => store.close());
      const lookup = (call: NestedToolCall) => ({ n: (call.input as { n: number }).n * 2 });
      const first = new RecordingDelegate({ lookup, charge: hang });
      const options = { store, key: 'chat-4', tools: TOOLS, leaseMs: 300, logger: capturingLogger() };
      const owner = new SessionRuntime(first, { ...options, limits: { journalMaxBytes: 0 } });
      t.after(() => owner.shutdown());
      const source = 'const a = await tools.lookup({ n: 1 }); await tools.charge({ amount: a.n })';
      await owner.execute({ source }, { kind: 'yieldAfter', ms: 0 });
      await waitFor(() => first.calls.length === 2);
      stall(400);
      const logger = capturingLogger();
      const [session] = await SessionRuntime.recover(elsewhere(store), () => new RecordingDelegate({}), { logger });
      t.after(() => session?.shutdown());
      const lost = await (session as SessionRuntime).observe('1', LONG_WAIT);
      assert.deepEqual(lost.kind === 'terminated' && [lost.reason, lost.toolCalls], [
        'agentLost',
        [
          { callId: 'tool-1', tool: { name: 'lookup' }, input: { n: 1 }, outcome: 'returned' },
          { callId: 'tool-2', tool: { name: 'charge' }, input: { amount: 2 }, outcome: 'inDoubt' },
        ],
      ]);
      assert.match(lost.kind === 'terminated' ? (lost.detail ?? '') : '', /agent process was lost/);
      // Its end was recorded before it was handed out: a later recovery finds it ended.
      const ends = (await recordsOf(store, 'chat-4')).filter((record) => record.t === 'end');
      assert.deepEqual(
        ends.map(({ cellId, event }) => [cellId, (event as { kind?: string; reason?: string }).reason]),
        [['1', 'agentLost']],
      );
    });

    test('exec/wait: an in-doubt pause says so; approved, the call is made again with its key', async (t) => {
      const store = kind.open(t);
      t.after(() => store.close());
      const first = new RecordingDelegate({ charge: hang });
      const owner = new SessionRuntime(first, {
        store,
        key: 'chat-5',
        tools: TOOLS,
        leaseMs: 300,
        logger: capturingLogger(),
      });
      t.after(() => owner.shutdown());
      await owner.execute(
        { source: "text('charged ' + await tools.charge({ amount: 3 }))" },
        { kind: 'yieldAfter', ms: 0 },
      );
      await waitFor(() => first.calls.length === 1);
      stall(400);
      const second = new RecordingDelegate({ charge: () => 'ok' });
      const [session] = await SessionRuntime.recover(elsewhere(store), () => second, { logger: capturingLogger() });
      t.after(() => session?.shutdown());
      const pair = createCodeModeTools(session as SessionRuntime);
      const paused = await pair.wait.execute({ cell_id: '1', yield_time_ms: 30_000, terminate: null });
      assert.equal(paused.status, 'interrupted');
      assert.match(paused.error ?? '', /^paused at tools\.charge \(tool-1\): in doubt/);
      assert.equal(
        describePause(pair.paused('1') as CellPause),
        'A cell\'s call tools.charge({"amount":3}) may or may not have been made (its agent process was lost); it would be made again',
      );
      const done = await pair.wait.execute(
        { cell_id: '1', yield_time_ms: 30_000, terminate: null },
        { approved: true },
      );
      assert.deepEqual([done.status, done.output], ['completed', 'charged ok']);
      assert.deepEqual(
        second.calls.map((call) => [call.tool.name, call.idempotencyKey, call.approved]),
        [['charge', first.calls[0]?.idempotencyKey, undefined]],
      );
    });

    test('a log this codecell cannot read is left as it is, with a warning; the others are recovered', async (t) => {
      const store = kind.open(t);
      t.after(() => store.close());
      await store.create('broken', 'gone', 100, null);
      await store.append('broken', 1, ['{"t":"session","options":{}}', 'not json']);
      const owner = new SessionRuntime(new RecordingDelegate({}), {
        store,
        key: 'fine',
        leaseMs: 100,
        logger: capturingLogger(),
      });
      await (
        await owner.execute({ source: 'text(1)' }, LONG_WAIT)
      ).initialEvent;
      stall(300);
      const logger = capturingLogger();
      const recovered = await SessionRuntime.recover(elsewhere(store), () => new RecordingDelegate({}), { logger });
      for (const each of recovered) t.after(() => each.shutdown());
      t.after(() => owner.shutdown());
      assert.deepEqual(
        recovered.map((session) => session.key),
        ['fine'],
      );
      assert.deepEqual(logger.warnings, ['codecell: session broken was not recovered: its log record 1 is not JSON']);
      assert.equal((await store.records('broken'))?.length, 2);
    });

    test("an idempotent call made again after a recovery is its cell's own: terminate cancels it", async (t) => {
      const store = kind.open(t);
      t.after(() => store.close());
      const first = new RecordingDelegate({ rate: hang });
      const options = { store, key: 'again-1', tools: TOOLS, leaseMs: 300, logger: capturingLogger() };
      const owner = new SessionRuntime(first, options);
      t.after(() => owner.shutdown());
      const { cellId } = await owner.execute({ source: 'text(await tools.rate({}))' }, { kind: 'yieldAfter', ms: 0 });
      await waitFor(() => first.calls.length === 1);
      stall(400);
      const second = new RecordingDelegate({ rate: hang });
      const [session] = await SessionRuntime.recover(elsewhere(store), () => second, { logger: capturingLogger() });
      t.after(() => session?.shutdown());
      await waitFor(() => second.calls.length === 1);
      assert.equal(second.calls[0]?.idempotencyKey, first.calls[0]?.idempotencyKey);
      // Made by the cell's run again: its signal is the cell's, aborted by terminate (the shared deadline).
      const ended = await (session as SessionRuntime).terminate(cellId);
      assert.deepEqual([ended.kind, ended.kind === 'terminated' && ended.reason], ['terminated', 'requested']);
      assert.equal(second.signals[0]?.aborted, true);
    });

    test('an approved idempotent call in doubt is made again marked approved: never asked again', async (t) => {
      const store = kind.open(t);
      t.after(() => store.close());
      const tools = [{ name: 'deploy', idempotent: true }];
      const deploy = (call: NestedToolCall): Promise<never> => {
        if (call.approved !== true) throw new CellInterrupt({ ask: 'deploy?' });
        return hang();
      };
      const first = new RecordingDelegate({ deploy });
      const owner = new SessionRuntime(first, {
        store,
        key: 'again-3',
        tools,
        leaseMs: 300,
        logger: capturingLogger(),
      });
      t.after(() => owner.shutdown());
      const { cellId, initialEvent } = await owner.execute({ source: 'text(await tools.deploy({}))' }, LONG_WAIT);
      assert.equal((await initialEvent).kind, 'interrupted');
      owner.resumeCell(cellId, { approved: true }).catch(() => {});
      await waitFor(() => first.calls.length === 2);
      stall(400);
      const second = new RecordingDelegate({ deploy: (call) => (call.approved === true ? 'deployed' : deploy(call)) });
      const [session] = await SessionRuntime.recover(elsewhere(store), () => second, { logger: capturingLogger() });
      t.after(() => session?.shutdown());
      const end = await (session as SessionRuntime).observe(cellId, LONG_WAIT);
      assert.deepEqual([end.kind, texts(end)], ['completed', ['deployed']]);
      assert.deepEqual(
        second.calls.map((call) => [call.approved, call.idempotencyKey]),
        [[true, first.calls[1]?.idempotencyKey]],
      );
    });

    test('a session whose lease holds is not adopted; retry is only for a call in doubt', async (t) => {
      const store = kind.open(t);
      t.after(() => store.close());
      const delegate = new RecordingDelegate({});
      const owner = new SessionRuntime(delegate, { store, key: 'chat-3', leaseMs: 10_000, logger: capturingLogger() });
      t.after(() => owner.shutdown());
      await (
        await owner.execute({ source: 'text(1)' }, LONG_WAIT)
      ).initialEvent;
      assert.deepEqual(await SessionRuntime.recover(store, () => delegate), []);
      await assert.rejects(owner.resumeCell('1', { retry: true }), { code: 'ERR_MISSING_CELL' });
      // The options that go with a store are checked at once.
      const refused = (options: object, message: string | RegExp): void =>
        assert.throws(() => new SessionRuntime(delegate, options), { code: 'ERR_INVALID_REQUEST', message });
      refused({ metadata: 1 }, 'options.metadata and options.leaseMs go with options.store');
      refused({ store: {} }, /options\.store must be a store/);
      refused({ store, leaseMs: 50 }, 'options.leaseMs must be an integer from 100 to 86400000');
      await assert.rejects(SessionRuntime.recover(store, 'no' as never), { message: /delegateFor must be a function/ });
    });
  });
}
