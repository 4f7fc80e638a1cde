// session.cells(): the cells a session still has — running, paused (at which call, and why), or
// ended with an end nobody read — in process and over the wire alike.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CellInterrupt } from '../src/index.js';
import { followSession, hang, LONG_WAIT, RecordingDelegate, waitFor } from './helpers.js';
import { bothKinds } from './sessions.js';

const TOOLS = [{ name: 'slow' }, { name: 'approve' }];

for (const kind of bothKinds)
  describe(`${kind.name}: session.cells()`, { timeout: 30_000 }, () => {
    test('lists the running, the paused (its call and payload) and the ended-unread cells, oldest first', async (t) => {
      const delegate = new RecordingDelegate({
        slow: hang,
        approve: () => {
          throw new CellInterrupt({ ask: 'ok?' });
        },
      });
      const session = await kind.open(t, delegate, { tools: TOOLS });
      assert.deepEqual(session.cells(), []);
      await session.execute({ source: 'await tools.slow({})' }, { kind: 'yieldAfter', ms: 0 });
      const paused = await session.execute({ source: 'await tools.approve({ what: "deploy" })' }, LONG_WAIT);
      assert.equal((await paused.initialEvent).kind, 'interrupted');
      const third = await session.execute({ source: 'text("done")' }, { kind: 'yieldAfter', ms: 0 });
      await third.initialEvent;
      // The third ends with nobody observing: its end waits.
      await waitFor(() => session.cells().some((cell) => cell.state === 'ended'));
      assert.deepEqual(session.cells(), [
        { cellId: '1', state: 'running' },
        {
          cellId: '2',
          state: 'paused',
          paused: {
            kind: 'interrupted',
            cellId: '2',
            callId: 'tool-1',
            tool: { name: 'approve' },
            input: { what: 'deploy' },
            payload: { ask: 'ok?' },
          },
        },
        { cellId: '3', state: 'ended' },
      ]);
      // Read, the end is gone; terminated, the running one too.
      await session.observe('3', LONG_WAIT);
      await session.terminate('1');
      assert.deepEqual(
        session.cells().map((cell) => [cell.cellId, cell.state]),
        [['2', 'paused']],
      );
    });

    test('the stream tells a pause and its settling', async (t) => {
      const delegate = new RecordingDelegate({
        approve: (call) => {
          if (call.approved !== true) throw new CellInterrupt({ ask: 'ok?' });
          return 'yes';
        },
      });
      const session = await kind.open(t, delegate, { tools: TOOLS });
      const told = followSession(t, session);
      const { cellId, initialEvent } = await session.execute({ source: 'text(await tools.approve({}))' }, LONG_WAIT);
      assert.equal((await initialEvent).kind, 'interrupted');
      const end = await session.resumeCell(cellId, { approved: true }, LONG_WAIT);
      assert.equal(end.kind, 'completed');
      await waitFor(() => told.some((event) => event.type === 'closed'));
      const kinds = told.filter((event) => event.type === 'paused' || event.type === 'resumed');
      assert.deepEqual(
        kinds.map(({ seq: _, ...event }) => event),
        [
          {
            cellId: '1',
            type: 'paused',
            event: {
              kind: 'interrupted',
              cellId: '1',
              callId: 'tool-1',
              tool: { name: 'approve' },
              input: {},
              payload: { ask: 'ok?' },
            },
          },
          { cellId: '1', type: 'resumed', callId: 'tool-1' },
        ],
      );
    });
  });
