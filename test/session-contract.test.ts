// Behaviours of the CodeCellSession interface, written once and run against the in-process
// runtime and the remote session of HostClient.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cellFailure, CodeCellError } from '../src/index.js';
import type { CellStreamEvent, NestedToolCall, SessionRuntimeDelegate } from '../src/index.js';
import { deferred, hang, ms, RecordingDelegate, texts, untilAborted, waitFor } from './helpers.js';
import { bothKinds, networkHost, spawnedHost } from './sessions.js';

const TOOLS = [{ name: 'add' }, { name: 'slow' }];
const GENEROUS_MS = 5_000;

function adder(): RecordingDelegate {
  return new RecordingDelegate({
    add: ({ input }) => {
      const { a, b } = input as { a: number; b: number };
      return { sum: a + b };
    },
    slow: hang,
  });
}

for (const kind of [...bothKinds, spawnedHost, networkHost]) {
  describe(kind.name, () => {
    test('a cell calls two tools in parallel, notifies, and completes with its output', async (t) => {
      const delegate = adder();
      const session = await kind.open(t, delegate, { tools: TOOLS });
      const { cellId, initialEvent } = await session.execute({
        source:
          'const [x, y] = await Promise.all([tools.add({a:1,b:2}), tools.add({a:3,b:4})]);\nnotify(`sums ${x.sum} ${y.sum}`);\ntext(x.sum + y.sum);',
      });
      assert.deepEqual(await initialEvent, { kind: 'completed', cellId, items: [{ type: 'text', text: '10' }] });
      assert.deepEqual(delegate.calls.map((call) => [call.callId, call.input]).sort(), [
        ['tool-1', { a: 1, b: 2 }],
        ['tool-2', { a: 3, b: 4 }],
      ]);
      assert.deepEqual(delegate.notifications, [{ cellId, callId: `exec-${cellId}`, text: 'sums 3 7' }]);
      assert.equal(session.isAlive, true);
    });

    test('cellFailure tells a failed cell from one that completed, was stopped or still runs', async (t) => {
      const session = await kind.open(t, adder(), { tools: TOOLS, limits: { cpuTimeMs: 200 } });
      const run = async (source: string, observe?: { kind: 'yieldAfter'; ms: number }) =>
        (await session.execute({ source }, observe)).initialEvent;
      assert.equal(cellFailure(await run('text(1)')), undefined);
      assert.match(
        cellFailure(await run('text(1); throw new Error("boom")')) ?? '',
        /^Error: boom\n {4}at cell\.js:1:/,
      );
      assert.equal(
        cellFailure(await run('while (true) {}')),
        'terminated (timeLimit: it used its cpuTimeMs limit of 200 ms)',
      );
      const yielded = await run('await new Promise(() => {})', { kind: 'yieldAfter', ms: 0 });
      assert.equal(yielded.kind, 'yielded');
      assert.equal(cellFailure(yielded), undefined);
      assert.equal(cellFailure(await session.terminate(yielded.cellId)), undefined);
    });

    test('observing a cell whose outcome was returned says it finished; an id never given is unknown', async (t) => {
      const session = await kind.open(t, adder(), { tools: TOOLS });
      const { cellId, initialEvent } = await session.execute({ source: 'text(1)' });
      assert.equal((await initialEvent).kind, 'completed');
      for (const again of [() => session.observe(cellId, { kind: 'pendingFrontier' }), () => session.terminate(cellId)])
        await assert.rejects(again(), {
          code: 'ERR_MISSING_CELL',
          message: `cell ${cellId} has finished: its outcome was already returned (each outcome is handed out once)`,
        });
      await assert.rejects(session.observe('999', { kind: 'pendingFrontier' }), {
        code: 'ERR_MISSING_CELL',
        message: 'unknown cell 999',
      });
    });
  });
}

for (const kind of bothKinds) {
  describe(kind.name, () => {
    test('pendingFrontier lists the outstanding calls, and terminate aborts a hanging delegate within the deadline', async (t) => {
      const delegate = new RecordingDelegate({ slow: hang });
      const session = await kind.open(t, delegate, { tools: TOOLS });
      const { cellId, initialEvent } = await session.execute(
        { source: 'await Promise.all([tools.slow({}), tools.slow({})])' },
        { kind: 'pendingFrontier' },
      );
      assert.deepEqual(await initialEvent, {
        kind: 'pending',
        cellId,
        items: [],
        pendingToolCallIds: ['tool-1', 'tool-2'],
      });
      const start = performance.now();
      assert.deepEqual(await session.terminate(cellId), { kind: 'terminated', cellId, items: [], reason: 'requested' });
      assert.ok(ms(start) < GENEROUS_MS);
      await waitFor(() => delegate.signals.every((signal) => signal.aborted));
      assert.equal(delegate.signals.length, 2);
    });

    test('a cooperative delegate sees its signal aborted with a CodeCellError', async (t) => {
      const delegate = new RecordingDelegate({ slow: (_call, signal) => untilAborted(signal) });
      const session = await kind.open(t, delegate, { tools: TOOLS });
      const { cellId, initialEvent } = await session.execute(
        { source: 'await tools.slow({})' },
        { kind: 'pendingFrontier' },
      );
      await initialEvent;
      await session.terminate(cellId);
      await waitFor(() => delegate.signals[0]?.aborted === true);
      assert.ok(delegate.signals[0]?.reason instanceof CodeCellError);
    });

    test('a delegate that is not async: a plain value, a thenable and a synchronous throw reach the cell as in-process', async (t) => {
      // The delegate is called as the call arrives (no promise hop first): what it throws at once
      // still fails only the call, with its kind.
      const order: string[] = [];
      const delegate = {
        invokeTool: (call: NestedToolCall): unknown => {
          order.push(call.callId);
          if (call.tool.name === 'plain') return { n: 1 };
          if (call.tool.name === 'thenable') return { then: (resolve: (value: unknown) => void) => resolve({ n: 2 }) };
          throw new TypeError(`no ${call.tool.name} today`);
        },
        notify: () => undefined,
      } as unknown as SessionRuntimeDelegate;
      const session = await kind.open(t, delegate, {
        tools: [{ name: 'plain' }, { name: 'thenable' }, { name: 'bad' }],
      });
      const { initialEvent } = await session.execute({
        source:
          'const a = await tools.plain({}); const b = await tools.thenable({});\n' +
          'let c; try { await tools.bad({}) } catch (e) { c = `${e instanceof TypeError} ${e.message}` }\n' +
          'text(JSON.stringify([a, b, c]))',
      });
      const event = await initialEvent;
      assert.deepEqual(event.items, [{ type: 'text', text: '[{"n":1},{"n":2},"true no bad today"]' }]);
      assert.deepEqual(order, ['tool-1', 'tool-2', 'tool-3']);
    });

    test('observer rules: busy, missing and already terminating carry their codes', async (t) => {
      const gate = deferred<number>();
      const session = await kind.open(t, new RecordingDelegate({ slow: () => gate.promise }), { tools: TOOLS });
      const { cellId, initialEvent } = await session.execute(
        { source: 'text(await tools.slow({}))' },
        { kind: 'pendingFrontier' },
      );
      await initialEvent;
      const { event } = await session.beginObserve(cellId, { kind: 'yieldAfter', ms: 60_000 });
      await assert.rejects(session.observe(cellId, { kind: 'yieldAfter', ms: 0 }), {
        code: 'ERR_BUSY_OBSERVER',
        message: `cell ${cellId} already has an active observer`,
      });
      await assert.rejects(session.observe('no-such-cell', { kind: 'yieldAfter', ms: 0 }), {
        code: 'ERR_MISSING_CELL',
      });
      gate.resolve(9);
      assert.deepEqual(await event, { kind: 'completed', cellId, items: [{ type: 'text', text: '9' }] });
      await assert.rejects(session.terminate(cellId), { code: 'ERR_MISSING_CELL' });
    });

    test('an uncaught error reports the line of the source', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const event = await (await session.execute({ source: 'text("a");\n\n\nnull.x;' })).initialEvent;
      assert.equal(event.kind, 'completed');
      assert.match(event.kind === 'completed' ? (event.error ?? '') : '', /TypeError[\s\S]*cell\.js:4:/);
      assert.deepEqual(texts(event), ['a']);
    });

    test('stored values carry over to the next cell of the session', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      await (
        await session.execute({ source: 'store("k", {n: 41})' })
      ).initialEvent;
      assert.deepEqual(texts(await (await session.execute({ source: 'text(load("k").n + 1)' })).initialEvent), ['42']);
    });

    test('yield_control yields, and the rest arrives with the next observation', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const { cellId, initialEvent } = await session.execute(
        { source: 'text("1"); yield_control(); await new Promise(r => setTimeout(r, 20)); text("2")' },
        { kind: 'yieldAfter', ms: 60_000 },
      );
      assert.deepEqual(texts(await initialEvent), ['1']);
      assert.deepEqual(await session.observe(cellId, { kind: 'yieldAfter', ms: 60_000 }), {
        kind: 'completed',
        cellId,
        items: [{ type: 'text', text: '2' }],
      });
    });

    test('events() streams the cell from its first output to closed', async (t) => {
      const session = await kind.open(t, adder(), { tools: TOOLS });
      const { cellId, initialEvent } = await session.execute({
        source: 'text("go"); await tools.add({a:1,b:1}); notify("n")',
      });
      const seen: CellStreamEvent[] = [];
      for await (const event of session.events(cellId)) seen.push(event);
      assert.deepEqual(
        seen.map((event) => event.type),
        ['output', 'toolCall', 'toolResult', 'notification', 'closed'],
      );
      assert.deepEqual(seen.at(-1), { type: 'closed', event: await initialEvent });
    });

    test('bad requests are refused with ERR_INVALID_REQUEST and the session goes on', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      await assert.rejects(session.execute({ source: '' }), { code: 'ERR_INVALID_REQUEST' });
      await assert.rejects(session.execute({ source: 'text(1)' }, { kind: 'yieldAfter', ms: -1 }), {
        code: 'ERR_INVALID_REQUEST',
      });
      await assert.rejects(session.execute({ source: 'x'.repeat(2048), limits: { maxSourceBytes: 1024 } }), {
        code: 'ERR_LIMIT_EXCEEDED',
      });
      assert.deepEqual(texts(await (await session.execute({ source: 'text("ok")' })).initialEvent), ['ok']);
    });

    test('shutdown ends running cells, closes them, and refuses new ones', async (t) => {
      const delegate = new RecordingDelegate({ slow: hang });
      const session = await kind.open(t, delegate, { tools: TOOLS });
      const { cellId } = await session.execute({ source: 'await tools.slow({})' }, { kind: 'pendingFrontier' });
      await session.shutdown();
      assert.equal(session.isAlive, false);
      await assert.rejects(session.execute({ source: 'text(1)' }), { code: 'ERR_SHUTTING_DOWN' });
      await waitFor(() => delegate.closed.includes(cellId));
    });
  });
}
