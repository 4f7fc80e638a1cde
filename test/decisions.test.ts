// A person's decision as a paused call's answer (issue 65, SPEC §13): resumeCell with
// { approved: true } makes the call now — the delegate gets it again, marked approved — and
// { declined: true } fails it in the cell; calls that ask to pause a paused cell wait their turn,
// each settled on its own, and survive a suspend. In process and over the wire.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CellInterrupt, SessionRuntime, type SessionSnapshot } from '../src/index.js';
import { deferred, RecordingDelegate, texts, waitFor } from './helpers.js';
import { bothKinds } from './sessions.js';

const WAIT = { kind: 'yieldAfter', ms: 30_000 } as const;

for (const kind of bothKinds) {
  describe(`${kind.name}: a person's decision as the answer`, { timeout: 60_000 }, () => {
    /**
     * del pauses its cell until a person approves it; made once approved, recording what it
     * deleted. `together`: it asks only once that many calls were made, in the order they came (an
     * await on one promise goes in order), so none pauses the cell before the others are made.
     */
    function gated(together = 1): { delegate: RecordingDelegate; deleted: number[] } {
      const deleted: number[] = [];
      const allMade = deferred();
      const delegate: RecordingDelegate = new RecordingDelegate({
        del: async (call) => {
          const { id } = call.input as { id: number };
          if (delegate.calls.length >= together) allMade.resolve();
          if (call.approved !== true) {
            await allMade.promise;
            throw new CellInterrupt({ approve: 'tools.del', input: { id } });
          }
          deleted.push(id);
          return { deleted: id };
        },
      });
      return { delegate, deleted };
    }

    test('{ approved: true } makes the call now, marked approved, and the cell gets its result', async (t) => {
      const { delegate, deleted } = gated();
      const session = await kind.open(t, delegate, { tools: [{ name: 'del' }] });
      const started = await session.execute({ source: 'text(JSON.stringify(await tools.del({ id: 7 })))' });
      const paused = await started.initialEvent;
      assert.equal(paused.kind, 'interrupted');
      assert.deepEqual(deleted, [], 'nothing is deleted before the approval');
      const done = await session.resumeCell('1', { approved: true }, WAIT);
      assert.deepEqual(done, { kind: 'completed', cellId: '1', items: [{ type: 'text', text: '{"deleted":7}' }] });
      assert.deepEqual(deleted, [7]);
      assert.deepEqual(
        delegate.calls.map((call) => [call.callId, call.approved ?? false]),
        [
          ['tool-1', false],
          ['tool-1', true],
        ],
      );
    });

    test('{ declined: true } fails the call in the cell, naming the tool and the reason; the tool never runs', async (t) => {
      const { delegate, deleted } = gated();
      const session = await kind.open(t, delegate, { tools: [{ name: 'del' }] });
      const started = await session.execute({
        source: 'try { await tools.del({ id: 7 }) } catch (error) { text(error.message) }',
      });
      assert.equal((await started.initialEvent).kind, 'interrupted');
      const done = await session.resumeCell('1', { declined: true, reason: 'not on a Friday' }, WAIT);
      assert.deepEqual(texts(done), ['tools.del was not run: a person declined this call: not on a Friday']);
      assert.deepEqual(deleted, []);
      assert.equal(delegate.calls.length, 1);
    });

    test('three paused calls are settled one by one: two approved, the third waits under its id', async (t) => {
      const { delegate, deleted } = gated(3); // all three calls are made before any pauses the cell
      const session = await kind.open(t, delegate, { tools: [{ name: 'del' }] });
      const started = await session.execute({
        source: `
        const settled = await Promise.allSettled([1, 2, 3].map((id) => tools.del({ id })));
        text(settled.map((each) => each.status === 'fulfilled' ? each.value.deleted : each.reason.message).join('; '));`,
      });
      const first = await started.initialEvent;
      assert.equal(first.kind === 'interrupted' && first.callId, 'tool-1');
      const second = await session.resumeCell('1', { approved: true }, WAIT);
      assert.equal(second.kind === 'interrupted' && second.callId, 'tool-2');
      const third = await session.resumeCell('1', { approved: true }, WAIT);
      assert.deepEqual(third.kind === 'interrupted' && [third.callId, third.input, third.payload], [
        'tool-3',
        { id: 3 },
        { approve: 'tools.del', input: { id: 3 } },
      ]);
      assert.deepEqual(deleted, [1, 2], 'the third waits');
      const done = await session.resumeCell('1', { declined: true }, WAIT);
      assert.deepEqual(texts(done), ['1; 2; tools.del was not run: a person declined this call']);
      assert.deepEqual(deleted, [1, 2]);
      assert.equal(delegate.calls.filter((call) => call.approved !== true).length, 3, 'each call asked once');
    });

    test('calls waiting to pause the cell survive a suspend', async (t) => {
      const { delegate, deleted } = gated(2);
      const session = await kind.open(t, delegate, { tools: [{ name: 'del' }] });
      const started = await session.execute({
        source: 'const r = await Promise.all([tools.del({ id: 1 }), tools.del({ id: 2 })]); text(JSON.stringify(r))',
      });
      assert.equal((await started.initialEvent).kind, 'interrupted');
      const suspendable = session as unknown as { suspend(): Promise<SessionSnapshot> };
      const snapshot = JSON.parse(JSON.stringify(await suspendable.suspend())) as SessionSnapshot;
      assert.deepEqual(snapshot.pausedCells?.[0]?.queued, [
        { callId: 'tool-2', payload: { approve: 'tools.del', input: { id: 2 } } },
      ]);
      const resumed = SessionRuntime.resume(snapshot, delegate);
      t.after(() => resumed.shutdown());
      const second = await resumed.resumeCell('1', { approved: true }, WAIT);
      assert.equal(second.kind === 'interrupted' && second.callId, 'tool-2');
      const done = await resumed.resumeCell('1', { approved: true }, WAIT);
      assert.deepEqual(texts(done), ['[{"deleted":1},{"deleted":2}]']);
      assert.deepEqual(deleted, [1, 2]);
    });

    test('an approval being made refuses a second answer; a bad answer is refused saying why', async (t) => {
      const { delegate, deleted } = gated();
      const release = deferred();
      const inner = delegate.tools.del as NonNullable<typeof delegate.tools.del>;
      delegate.tools.del = async (call, signal) => {
        if (call.approved === true) await release.promise;
        return inner(call, signal);
      };
      const session = await kind.open(t, delegate, { tools: [{ name: 'del' }] });
      const started = await session.execute({ source: 'text(JSON.stringify(await tools.del({ id: 7 })))' });
      assert.equal((await started.initialEvent).kind, 'interrupted');
      for (const answer of [
        { approved: false },
        { approved: true, result: 1 },
        { declined: 'yes' },
        { declined: true, reason: 5 },
      ])
        await assert.rejects(session.resumeCell('1', answer as never), { code: 'ERR_INVALID_REQUEST' });
      const approving = session.resumeCell('1', { approved: true }, WAIT);
      await waitFor(() => delegate.calls.length === 2);
      await assert.rejects(session.resumeCell('1', { approved: true }), {
        code: 'ERR_INVALID_REQUEST',
        message: /cell 1 is being resumed already/,
      });
      release.resolve();
      assert.deepEqual(texts(await approving), ['{"deleted":7}']);
      assert.deepEqual(deleted, [7], 'made once');
    });
  });
}
