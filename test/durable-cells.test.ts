// Issue 53 (SPEC §13): a delegate pauses a cell with a CellInterrupt; resumeCell runs it again
// from its journal — no tool call made twice, no output or notification repeated, the same clock
// and random numbers, the same order of tool results and timers — and delivers the answer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CellInterrupt,
  SessionRuntime,
  type CellEvent,
  type CellStreamEvent,
  type SessionSnapshot,
} from '../src/index.js';
import { connectInProcess } from '../host/in-process.js';
import { capturingLogger, deferred, newRuntime, RecordingDelegate, texts, untilAborted, waitFor } from './helpers.js';
import { bothKinds } from './sessions.js';

const TOOLS = [{ name: 'get' }, { name: 'approve' }, { name: 'slow' }];
const WAIT = { kind: 'yieldAfter', ms: 30_000 } as const;

/** get → { n: input.n * 10 }; approve → CellInterrupt({ asked: input }). */
function approvals(): RecordingDelegate {
  return new RecordingDelegate({
    get: (call) => ({ n: ((call.input as { n: number }).n ?? 0) * 10 }),
    approve: (call) => {
      throw new CellInterrupt({ asked: call.input ?? null });
    },
  });
}

const callLog = (delegate: RecordingDelegate): string[] =>
  delegate.calls.map((call) => `${call.callId} ${call.tool.name} ${JSON.stringify(call.input)}`);

for (const kind of bothKinds) {
  describe(`${kind.name}: interrupt and resumeCell`, { timeout: 60_000 }, () => {
    test('a paused cell resumes where it was: each call made once, output once, same clock and randomness', async (t) => {
      const delegate = approvals();
      const slow = deferred<{ n: number }>();
      delegate.tools.slow = () => slow.promise;
      const session = await kind.open(t, delegate, { tools: TOOLS });
      const started = await session.execute({
        source: `
        const t0 = Date.now(); const r = Math.random(); const d = new Date().toISOString();
        text('before ' + r);
        const a = await tools.get({ n: 1 });
        notify('got ' + a.n);
        await new Promise((resolve) => setTimeout(resolve, 5));
        const [b, ok] = await Promise.all([tools.slow({}), tools.approve({ what: 'deploy' })]);
        text(JSON.stringify({ a: a.n, b: b.n, ok, r, t0, d, later: Date.now() >= t0 }));
        text('after ' + (await tools.get({ n: 3 })).n);`,
      });
      const first = await started.initialEvent;
      assert.deepEqual(first, {
        kind: 'interrupted',
        cellId: '1',
        items: first.items,
        callId: 'tool-3',
        tool: { name: 'approve' },
        input: { what: 'deploy' },
        payload: { asked: { what: 'deploy' } },
      });
      const [before] = texts(first);
      assert.match(before ?? '', /^before 0\.\d+$/);
      // Observed again, it says the same, without the items already handed out.
      const again = await session.observe('1', { kind: 'yieldAfter', ms: 10 });
      assert.deepEqual(again, { ...first, items: [] });
      // The call still in flight when the cell paused answers after the pause.
      slow.resolve({ n: 20 });

      const resumed = await session.resumeCell('1', { result: { approved: true } }, WAIT);
      assert.equal(resumed.kind, 'completed');
      const [summary, after] = texts(resumed);
      const values = JSON.parse(summary ?? '{}') as Record<string, unknown>;
      assert.equal(values.a, 10);
      assert.equal(values.b, 20);
      assert.deepEqual(values.ok, { approved: true });
      assert.equal(`before ${String(values.r)}`, before, 'Math.random gave the same number again');
      assert.equal(values.later, true);
      assert.equal(after, 'after 30');
      assert.equal(texts(resumed).length, 2, 'nothing produced before the pause is produced again');
      assert.deepEqual(callLog(delegate), [
        'tool-1 get {"n":1}',
        'tool-2 slow {}',
        'tool-3 approve {"what":"deploy"}',
        'tool-4 get {"n":3}',
      ]);
      assert.deepEqual(
        delegate.notifications.map((n) => n.text),
        ['got 10'],
      );
      await waitFor(() => delegate.closed.length > 0);
      assert.deepEqual(delegate.closed, ['1']);
    });

    test('the clock: readings before the pause are read again, in order, then the clock goes on', async (t) => {
      const session = await kind.open(t, approvals(), { tools: TOOLS });
      // 5 000 readings: more than the sandbox sends at once (4 096).
      const started = await session.execute({
        source: `
        const readings = [];
        for (let i = 0; i < 5000; i++) readings.push(Date.now());
        readings.push(new Date().getTime(), Date.parse(Date()), new Intl.DateTimeFormat('en', { year: 'numeric' }).format());
        const before = JSON.stringify(readings);
        text(readings.length);
        await tools.approve({});
        text(before === JSON.stringify(readings) ? 'same readings' : 'different');
        text(Date.now() >= readings[0] ? 'clock goes on' : 'clock went back');`,
      });
      assert.equal((await started.initialEvent).kind, 'interrupted');
      // Long enough that a clock read again would differ.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const resumed = await session.resumeCell('1', { result: null }, WAIT);
      assert.deepEqual(texts(resumed), ['same readings', 'clock goes on']);
    });

    test('results and timers are delivered in the order the first run took them', async (t) => {
      const delegate = approvals();
      const gates = [deferred(), deferred(), deferred()];
      delegate.tools.slow = async (call) => {
        await gates[(call.input as { i: number }).i]?.promise;
        return (call.input as { i: number }).i;
      };
      const session = await kind.open(t, delegate, { tools: TOOLS });
      const started = await session.execute({
        source: `
        const order = [];
        const calls = [0, 1, 2].map((i) => tools.slow({ i }).then(() => order.push('tool ' + i)));
        setTimeout(() => order.push('timer'), 0);
        await Promise.all(calls);
        await tools.approve({ order });
        text(order.join(', '));`,
      });
      // The delegate answers 2, then 0, then 1; the timer fires in between somewhere.
      gates[2]?.resolve();
      await new Promise((resolve) => setTimeout(resolve, 10));
      gates[0]?.resolve();
      gates[1]?.resolve();
      const first = await started.initialEvent;
      assert.equal(first.kind, 'interrupted');
      const recorded = (first as Extract<CellEvent, { kind: 'interrupted' }>).input as { order: string[] };
      const resumed = await session.resumeCell('1', { result: 'ok' }, WAIT);
      assert.deepEqual(
        recorded.order.filter((entry) => entry !== 'timer'),
        ['tool 2', 'tool 0', 'tool 1'],
        'the first run took the results in the order the delegate gave them',
      );
      assert.deepEqual(texts(resumed), [recorded.order.join(', ')], 'the replay took them in that order too');
      assert.equal(delegate.calls.length, 4, 'three slow calls and one approve');
    });

    test('an error answer rejects the paused call inside the cell', async (t) => {
      const session = await kind.open(t, approvals(), { tools: TOOLS });
      const started = await session.execute({
        source: `try { await tools.approve({}) } catch (error) { text(error.message) }`,
      });
      assert.equal((await started.initialEvent).kind, 'interrupted');
      const resumed = await session.resumeCell('1', { error: 'denied by alice' }, WAIT);
      assert.deepEqual(resumed, { kind: 'completed', cellId: '1', items: [{ type: 'text', text: 'denied by alice' }] });
    });

    test('a cell pauses as often as its tools ask, and its stream carries on to one closed event', async (t) => {
      const session = await kind.open(t, approvals(), { tools: TOOLS });
      const started = await session.execute({
        source: `
        const first = await tools.approve({ step: 1 });
        text('step 1: ' + first);
        const second = await tools.approve({ step: 2 });
        text('step 2: ' + second);`,
      });
      const events: CellStreamEvent[] = [];
      const stream = session.events('1', { from: 'start' });
      const collected = (async () => {
        for await (const event of stream) events.push(event);
      })();
      assert.equal((await started.initialEvent).kind, 'interrupted');
      const paused = await session.resumeCell('1', { result: 'yes' }, WAIT);
      assert.equal(paused.kind, 'interrupted');
      assert.deepEqual(texts(paused), ['step 1: yes']);
      assert.deepEqual((paused as Extract<CellEvent, { kind: 'interrupted' }>).input, { step: 2 });
      const done = await session.resumeCell('1', { result: 'also yes' }, WAIT);
      assert.deepEqual(texts(done), ['step 2: also yes']);
      await collected;
      assert.deepEqual(
        events.map((event) =>
          event.type === 'output' && event.item.type === 'text' ? `output ${event.item.text}` : event.type,
        ),
        ['toolCall', 'toolResult', 'output step 1: yes', 'toolCall', 'toolResult', 'output step 2: also yes', 'closed'],
      );
    });

    test('resumeCell refuses what is not an interrupted cell, and bad answers, with clear errors', async (t) => {
      const session = await kind.open(t, approvals(), { tools: TOOLS });
      const running = await session.execute({ source: 'await new Promise(() => {})' });
      await assert.rejects(session.resumeCell(running.cellId, { result: 1 }), {
        code: 'ERR_INVALID_REQUEST',
        message: 'cell 1 is not interrupted: only an interrupted cell resumes',
      });
      await assert.rejects(session.resumeCell('99', { result: 1 }), { code: 'ERR_MISSING_CELL' });
      const paused = await session.execute({ source: 'await tools.approve({})' });
      assert.equal((await paused.initialEvent).kind, 'interrupted');
      for (const [answer, message] of [
        [{}, 'answer must have exactly one of result and error'],
        [{ result: 1, error: 'x' }, 'answer must have exactly one of result and error'],
        [{ result: 1, extra: true }, 'answer has unknown field(s) extra: it is { result } or { error }'],
        [{ error: 42 }, 'answer.error must be a string or an Error'],
        [{ result: () => 1 }, 'answer.result is not JSON: a function is not a JSON value'],
        [null, 'answer must be { result } or { error }'],
      ] as const) {
        await assert.rejects(session.resumeCell(paused.cellId, answer as never), {
          code: 'ERR_INVALID_REQUEST',
          message,
        });
      }
      // Refusals leave the cell paused: it still resumes.
      assert.equal((await session.resumeCell(paused.cellId, { result: 1 }, WAIT)).kind, 'completed');
    });

    test('a cell without a journal cannot pause: the call fails and says why', async (t) => {
      const session = await kind.open(t, approvals(), { tools: TOOLS, limits: { journalMaxBytes: 0 } });
      const started = await session.execute({
        source: `try { await tools.approve({}) } catch (error) { text(error.message) }`,
      });
      assert.deepEqual(texts(await started.initialEvent), [
        'tools.approve asked to pause the cell, but the cell keeps no journal (journalMaxBytes is 0)',
      ]);
      const small = await session.execute({
        source: `await tools.get({ n: 1 }); try { await tools.approve({}) } catch (error) { text(error.message) }`,
        limits: { journalMaxBytes: 40 },
      });
      assert.deepEqual(texts(await small.initialEvent), [
        'tools.approve asked to pause the cell, but its journal passed the journalMaxBytes limit of 40',
      ]);
    });

    test('terminate and shutdown end a paused cell, aborting the calls it still had in flight', async (t) => {
      const delegate = approvals();
      delegate.tools.slow = (_call, signal) => untilAborted(signal);
      const session = await kind.open(t, delegate, { tools: TOOLS });
      const first = await session.execute({ source: 'await Promise.all([tools.slow({}), tools.approve({})])' });
      assert.equal((await first.initialEvent).kind, 'interrupted');
      assert.deepEqual(await session.terminate('1'), {
        kind: 'terminated',
        cellId: '1',
        items: [],
        reason: 'requested',
      });
      assert.equal(delegate.signals[0]?.aborted, true, 'the slow call was aborted');
      await assert.rejects(session.resumeCell('1', { result: 1 }), { code: 'ERR_MISSING_CELL' });

      const second = await session.execute({ source: 'await tools.approve({})' });
      assert.equal((await second.initialEvent).kind, 'interrupted');
      await session.shutdown();
      assert.equal(session.isAlive, false);
    });

    test('a paused cell holds no slot of maxRunningCells', async (t) => {
      const session = await kind.open(t, approvals(), { tools: TOOLS, limits: { maxRunningCells: 1 } });
      const paused = await session.execute({ source: 'await tools.approve({})' });
      assert.equal((await paused.initialEvent).kind, 'interrupted');
      const next = await session.execute({ source: 'text(1)' });
      assert.deepEqual(texts(await next.initialEvent), ['1']);
    });
  });
}

describe('durable cells: a paused cell in a snapshot', { timeout: 60_000 }, () => {
  const PAUSING = `
    const a = await tools.get({ n: 1 });
    text('a=' + a.n + ' r=' + Math.random());
    const [b, ok] = await Promise.all([tools.slow({}), tools.approve({ what: 'ship' })]);
    text('b=' + b + ' ok=' + ok + ' r=' + Math.random() + ' x=' + load('x'));
    store('done', true);`;

  test('suspend waits for its calls in flight; resumed in a new session, resumeCell finishes it', async (t) => {
    const delegate = approvals();
    const slow = deferred<string>();
    delegate.tools.slow = () => slow.promise;
    const session = newRuntime(t, delegate, { tools: TOOLS });
    await (
      await session.execute({ source: 'store("x", 7)' })
    ).initialEvent;
    const started = await session.execute({ source: PAUSING });
    const first = await started.initialEvent;
    assert.equal(first.kind, 'interrupted');
    const [seen] = texts(first);
    // suspend() waits for the slow call (its outcome goes into the snapshot).
    let suspended = false;
    const suspending = session.suspend().then((snapshot) => {
      suspended = true;
      return snapshot;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(suspended, false, 'suspend waits for the paused cell’s call in flight');
    slow.resolve('slow');
    const snapshot = JSON.parse(JSON.stringify(await suspending)) as SessionSnapshot;
    assert.equal(snapshot.pausedCells?.length, 1);
    assert.equal(snapshot.nextCellId, 3);

    const later = approvals();
    const resumed = newRuntime(t, later, {}, snapshot);
    const again = await resumed.observe('2', { kind: 'yieldAfter', ms: 10 });
    assert.deepEqual({ ...again, items: [] }, { ...first, items: [] });
    const done = await resumed.resumeCell('2', { result: 'yes' }, WAIT);
    assert.equal(done.kind, 'completed');
    assert.deepEqual(texts(done).length, 1, 'the line before the pause is not produced again');
    assert.match(texts(done)[0] ?? '', /^b=slow ok=yes r=0\.\d+ x=7$/);
    assert.match(seen ?? '', /^a=10 r=0\.\d+$/);
    assert.equal(later.calls.length, 0, 'no call was made again, in the new session either');
    assert.deepEqual(texts(await (await resumed.execute({ source: 'text(load("done"))' })).initialEvent), ['true']);
  });

  test('a paused cell moves between processes: suspended in-process, resumed on a host, and back', async (t) => {
    const session = newRuntime(t, approvals(), { tools: TOOLS });
    const started = await session.execute({
      source: `text('one'); const x = await tools.approve({ step: 1 }); text('two ' + x);
        const y = await tools.approve({ step: 2 }); text('three ' + y);`,
    });
    assert.deepEqual(texts(await started.initialEvent), ['one']);
    const linked = await connectInProcess({ logger: capturingLogger() });
    t.after(() => linked.close());
    const remote = await linked.client.resumeSession(await session.suspend(), approvals());
    t.after(() => remote.shutdown());
    const second = await remote.resumeCell('1', { result: 'a' }, WAIT);
    assert.equal(second.kind, 'interrupted');
    assert.deepEqual(texts(second), ['two a']);
    const back = newRuntime(t, approvals(), {}, await remote.suspend());
    const done = await back.resumeCell('1', { result: 'b' }, WAIT);
    assert.deepEqual(done, { kind: 'completed', cellId: '1', items: [{ type: 'text', text: 'three b' }] });
  });

  test('a journal that no longer matches the cell stops the replay at once: replayDiverged, with its calls', async (t) => {
    const session = newRuntime(t, approvals(), { tools: TOOLS });
    const started = await session.execute({
      source: 'const a = await tools.get({ n: 1 }); await tools.approve({ a: a.n })',
    });
    assert.equal((await started.initialEvent).kind, 'interrupted');
    const snapshot = JSON.parse(JSON.stringify(await session.suspend())) as SessionSnapshot;
    const cell = snapshot.pausedCells?.[0];
    assert.ok(cell);
    // The recorded input of tool-1 is not what the cell asks for.
    const recorded = cell.journal.calls[0];
    assert.ok(recorded);
    (recorded as { inputJson: string }).inputJson = '{"n":2}';
    const later = approvals();
    const resumed = newRuntime(t, later, {}, snapshot);
    assert.deepEqual(await resumed.resumeCell('1', { result: 1 }, WAIT), {
      kind: 'terminated',
      cellId: '1',
      items: [],
      reason: 'replayDiverged',
      toolCalls: [
        { callId: 'tool-1', tool: { name: 'get' }, input: { n: 2 }, outcome: 'returned' },
        { callId: 'tool-2', tool: { name: 'approve' }, input: { a: 10 }, outcome: 'pending' },
      ],
    });
    assert.equal(later.calls.length, 0, 'nothing reached the delegate');
  });

  test('a newer version that makes fewer calls than recorded ends replayDiverged at once, waiting or done', async (t) => {
    const session = newRuntime(t, approvals(), { tools: TOOLS });
    const started = await session.execute({
      source: 'for (let n = 1; n <= 3; n++) await tools.get({ n }); await tools.approve({})',
    });
    assert.equal((await started.initialEvent).kind, 'interrupted');
    const snapshot = JSON.stringify(await session.suspend());
    // Deployed anew, the cell makes one call of the three, then waits for nothing it will get, or ends.
    for (const rest of ['await new Promise(() => {})', 'text("done")']) {
      const changed = JSON.parse(snapshot) as SessionSnapshot;
      (changed.pausedCells?.[0] as { code: string }).code = `await tools.get({ n: 1 }); ${rest}`;
      const later = approvals();
      const resumed = newRuntime(t, later, { limits: { wallTimeMs: 60_000 } }, changed);
      const end = await resumed.resumeCell('1', { result: 1 }, WAIT);
      assert.equal(end.kind, 'terminated', JSON.stringify(end));
      assert.equal(end.kind === 'terminated' && end.reason, 'replayDiverged');
      assert.deepEqual(end.kind === 'terminated' && end.toolCalls?.map((call) => `${call.callId} ${call.outcome}`), [
        'tool-1 returned',
        'tool-2 returned',
        'tool-3 returned',
        'tool-4 pending',
      ]);
      assert.equal(later.calls.length, 0, 'nothing reached the delegate');
    }
  });

  test('a malformed paused cell is refused, saying what is wrong', async (t) => {
    const session = newRuntime(t, approvals(), { tools: TOOLS });
    assert.equal(
      (await (await session.execute({ source: 'await tools.approve({})' })).initialEvent).kind,
      'interrupted',
    );
    const snapshot = JSON.parse(JSON.stringify(await session.suspend())) as SessionSnapshot;
    const broken = (change: (cell: Record<string, unknown>) => void): SessionSnapshot => {
      const copy = JSON.parse(JSON.stringify(snapshot)) as SessionSnapshot;
      change(copy.pausedCells?.[0] as unknown as Record<string, unknown>);
      return copy;
    };
    const cases: [SessionSnapshot, string][] = [
      [
        broken((cell) => delete cell.code),
        'snapshot.pausedCells[0] needs the code, filename and toolCallId texts it ran with',
      ],
      [
        broken((cell) => ((cell.journal as Record<string, unknown>).seed = -1)),
        'snapshot.pausedCells[0]: journal.seed must be an unsigned 32-bit integer',
      ],
      [
        broken((cell) => ((cell.event as Record<string, unknown>).callId = 'tool-9')),
        'snapshot.pausedCells[0].event must be the interrupted event of a call its journal holds, still pending',
      ],
      [
        broken((cell) => (cell.held = [{ kind: 'nope' }])),
        'snapshot.pausedCells[0]: a delivery must be { kind: "timer", id } or { kind: "settle", callId, ok, payload, errorKind }',
      ],
      [
        broken((cell) => (cell.limits = { journalMaxBytes: 1 })),
        "snapshot.pausedCells[0]: the journal is over the cell's journalMaxBytes limit of 1",
      ],
    ];
    for (const [bad, message] of cases) {
      assert.throws(() => SessionRuntime.resume(bad, approvals()), {
        code: 'ERR_INVALID_REQUEST',
        message: `cannot resume the session: ${message}`,
      });
    }
  });
});
