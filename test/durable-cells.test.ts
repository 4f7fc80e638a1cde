// Issue 53 (SPEC §13): a delegate pauses a cell with a CellInterrupt; resumeCell runs it again
// from its journal — no tool call made twice, no output or notification repeated, the same clock
// and random numbers, the same order of tool results and timers — and delivers the answer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CellEvent, CellStreamEvent } from '../src/index.js';
import {
  approvals,
  APPROVAL_TOOLS as TOOLS,
  deferred,
  LONG_WAIT as WAIT,
  RecordingDelegate,
  texts,
  untilAborted,
  waitFor,
} from './helpers.js';
import { bothKinds } from './sessions.js';

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

    test('a result that races a chain of microtasks is taken in the first run’s order by the replay', async (t) => {
      // The first run's results take 5 ms, so each enters as a task, after the chain beside it
      // made its call; the replay's come at once. A replay that took a result where its thread
      // waited after the call (ADR 23) made z before y and ended replayDiverged.
      const delegate = approvals();
      delegate.tools.slow = async (call) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return (call.input as { n: string }).n;
      };
      const session = await kind.open(t, delegate, { tools: TOOLS });
      const started = await session.execute({
        source: `
        const order = [];
        for (const n of ['w', 'v']) await tools.slow({ n });
        const x = tools.slow({ n: 'x' });
        const beside = (async () => { await null; await null; order.push(await tools.slow({ n: 'y' })); })();
        order.push(await x);
        order.push(await tools.slow({ n: 'z' }));
        await beside;
        await tools.approve({ order });
        text(order.join(', '));`,
      });
      const first = await started.initialEvent;
      assert.equal(first.kind, 'interrupted', JSON.stringify(first));
      const resumed = await session.resumeCell('1', { result: 'ok' }, WAIT);
      assert.equal(resumed.kind, 'completed', JSON.stringify(resumed));
      assert.deepEqual(texts(resumed), ['x, y, z']);
      assert.deepEqual(
        delegate.calls.map((call) => JSON.stringify(call.input)),
        ['{"n":"w"}', '{"n":"v"}', '{"n":"x"}', '{"n":"y"}', '{"n":"z"}', '{"order":["x","y","z"]}'],
      );
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
        const calls = [0, 1, 2].map((i) =>
          tools.slow({ i }).then(() => {
            order.push('tool ' + i);
            notify('took ' + i);
          }),
        );
        setTimeout(() => order.push('timer'), 0);
        await Promise.all(calls);
        await tools.approve({ order });
        text(order.join(', '));`,
      });
      // The delegate answers 2, then 0, then 1, each once the cell took the one before (so a
      // loaded machine cannot reorder them); the timer fires in between somewhere.
      const took = (i: number) => () => delegate.notifications.some((n) => n.text === `took ${i}`);
      await waitFor(() => delegate.calls.length === 3);
      gates[2]?.resolve();
      await waitFor(took(2));
      gates[0]?.resolve();
      await waitFor(took(0));
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
      assert.deepEqual(
        delegate.notifications.map((n) => n.text),
        ['took 2', 'took 0', 'took 1'],
        'no notification repeated by the replay',
      );
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
        [
          'toolCall',
          'paused',
          'resumed',
          'toolResult',
          'output step 1: yes',
          'toolCall',
          'paused',
          'resumed',
          'toolResult',
          'output step 2: also yes',
          'closed',
        ],
        'each pause and its answer are told in the stream, between the call and its result',
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
        [
          null,
          'answer must be { result }, { error }, { approved: true }, { declined: true, reason? } or { retry: true }',
        ],
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
