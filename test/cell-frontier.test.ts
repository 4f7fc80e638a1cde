// Cell semantics that follow the reference code-mode host (issue 15), run in-process and through
// codecell-host over linked streams.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CellStreamEvent, JsonValue } from '../src/index.js';
import { deferred, RecordingDelegate, texts, waitFor, type Deferred } from './helpers.js';
import { bothKinds } from './sessions.js';
import { ECHO, echo, run } from './cell-helpers.js';

// Cell semantics, continued from cell-semantics.test.ts: the pending frontier, closing and shutdown races.

for (const kind of bothKinds) {
  describe(`${kind.name}: frontier and closing`, () => {
    test('pendingFrontier never lists calls the delegate already answered', async (t) => {
      const answers = [deferred<JsonValue>(), deferred<JsonValue>(), deferred<JsonValue>()];
      let next = 0;
      const delegate = new RecordingDelegate({ echo: () => (answers[next++] as Deferred<JsonValue>).promise });
      const session = await kind.open(t, delegate, { tools: ECHO });
      const { cellId, initialEvent } = await session.execute(
        {
          source:
            'const [a, b] = await Promise.all([tools.echo({}), tools.echo({})]); text(`${a}+${b}`); await tools.echo({})',
        },
        { kind: 'pendingFrontier' },
      );
      assert.deepEqual(await initialEvent, {
        kind: 'pending',
        cellId,
        items: [],
        pendingToolCallIds: ['tool-1', 'tool-2'],
      });
      answers[0]?.resolve(1);
      answers[1]?.resolve(2);
      const event = await session.observe(cellId, { kind: 'pendingFrontier' });
      assert.deepEqual(event, {
        kind: 'pending',
        cellId,
        items: [{ type: 'text', text: '1+2' }],
        pendingToolCallIds: ['tool-3'],
      });
    });

    test('a cell closes when its outcome is committed, even if nobody reads it; the event is kept for one read', async (t) => {
      const delegate = echo();
      const session = await kind.open(t, delegate, { tools: ECHO, limits: { maxCellsPerSession: 4 } });
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const { cellId } = await session.execute({ source: `text("cell ${i}")` }, { kind: 'yieldAfter', ms: 0 });
        ids.push(cellId);
      }
      await waitFor(() => delegate.closed.length === 4);
      assert.deepEqual(
        [...delegate.closed].sort(),
        [...ids].sort(),
        'cellClosed ran for every finished cell, read or not',
      );
      const { cellId: fifth, initialEvent } = await session.execute({ source: 'text("fifth")' });
      assert.deepEqual(texts(await initialEvent), ['fifth'], 'the finished cells freed their slots');
      const stream: CellStreamEvent[] = [];
      for await (const event of session.events(ids[0] as string)) stream.push(event);
      assert.equal(stream.at(-1)?.type, 'closed', "an unread cell's stream ends with closed");
      assert.deepEqual(await session.observe(ids[0] as string, { kind: 'yieldAfter', ms: 1000 }), {
        kind: 'completed',
        cellId: ids[0],
        items: [{ type: 'text', text: 'cell 0' }],
      });
      await assert.rejects(session.observe(ids[0] as string, { kind: 'yieldAfter', ms: 0 }), {
        code: 'ERR_MISSING_CELL',
      });
      assert.deepEqual(
        texts(await session.terminate(ids[1] as string)),
        ['cell 1'],
        'terminate takes the unread event too',
      );
      await assert.rejects(session.terminate(ids[1] as string), { code: 'ERR_MISSING_CELL' });
      await assert.rejects(
        session.observe(fifth, { kind: 'yieldAfter', ms: 0 }),
        { code: 'ERR_MISSING_CELL' },
        'a read event is gone',
      );
    });

    test('unread terminal events are bounded: the oldest are dropped and their ids forgotten', async (t) => {
      const delegate = echo();
      const session = await kind.open(t, delegate, { limits: { maxCellsPerSession: 100 } });
      const ids: string[] = [];
      // Under load a cell can print before its initial observation (yieldAfter 0) returns: the
      // text is then in that yielded event, and the terminal event has none.
      const early: (string | undefined)[] = [];
      let finishedEarly = 0;
      for (let i = 0; i < 66; i++) {
        const started = await session.execute({ source: `text(${i})` }, { kind: 'yieldAfter', ms: 0 });
        const initial = await started.initialEvent;
        // A cell that completed within its initial observation left nothing unread.
        if (initial.kind === 'completed') {
          finishedEarly++;
          continue;
        }
        ids.push(started.cellId);
        early.push(texts(initial)[0]);
      }
      await waitFor(() => delegate.closed.length === 66);
      // Cells commit in the order they finish (not always their ids' order): the two that
      // committed first were dropped, the newest 64 are kept for one read each.
      const outcomes = await Promise.all(
        ids.map((id, i) =>
          session.observe(id, { kind: 'yieldAfter', ms: 0 }).then(
            (event) => (event.kind === 'completed' && (texts(event)[0] ?? early[i]) === String(i) ? 'read' : 'wrong'),
            (error: { code?: string }) => error.code,
          ),
        ),
      );
      const unread = 66 - finishedEarly;
      assert.deepEqual(
        [outcomes.filter((o) => o === 'read').length, outcomes.filter((o) => o === 'ERR_MISSING_CELL').length],
        [Math.min(64, unread), Math.max(0, unread - 64)],
      );
      await assert.rejects(session.observe(ids[outcomes.indexOf('read')] as string, { kind: 'yieldAfter', ms: 0 }), {
        code: 'ERR_MISSING_CELL',
      });
    });
  });
}

for (const kind of bothKinds) {
  describe(`${kind.name}: shutdown races`, () => {
    test('an execute admitted as shutdown begins is refused or shut down with the rest', async (t) => {
      for (let yields = 0; yields < 6; yields++) {
        const delegate = echo();
        const session = await kind.open(t, delegate);
        const started = session.execute({
          source:
            'for (let i = 0; i < 5; i++) { notify(`n${i}`); await new Promise((resolve) => setTimeout(resolve, 20)); }',
        });
        for (let i = 0; i < yields; i++) await Promise.resolve();
        await session.shutdown();
        const settled = await started.then(
          async ({ initialEvent }) => (await initialEvent).kind,
          (error: { code?: string }) => error.code,
        );
        assert.ok(settled === 'ERR_SHUTTING_DOWN' || settled === 'terminated', `after ${yields} yields: ${settled}`);
        const seen = delegate.notifications.length;
        await new Promise((resolve) => setTimeout(resolve, 120));
        assert.equal(
          delegate.notifications.length,
          seen,
          `after ${yields} yields, no notification arrives after shutdown()`,
        );
      }
    });

    test('shutdown waits for a cellClosed already running, within the deadline', async (t) => {
      const delegate = echo();
      let finished = false;
      delegate.cellClosedHandler = async () => {
        await new Promise((resolve) => setTimeout(resolve, 40));
        finished = true;
      };
      const session = await kind.open(t, delegate);
      await run(session, 'text(1)');
      await waitFor(() => delegate.closed.length === 1);
      await session.shutdown();
      assert.equal(finished, true, 'cellClosed had returned when shutdown() resolved');
    });
  });
}
