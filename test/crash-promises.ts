// SPEC §16's promise across a kill -9 of the agent process, for one kind of store, in process and
// over the wire (recovery.test.ts runs it on SQLite, postgres-store.test.ts on PostgreSQL): the
// agent (fixtures/store-agent.ts, its appends made slow) has a person approve a call that is being
// made when it dies, and has seen a cell's end; the recovery finds the approved call in doubt —
// never asks for the same approval again, never makes the call again — and does not run again the
// cell whose end the agent saw.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { HostClient } from '../host/index.js';
import { SessionRuntime, type CodeCellSession, type CodeCellStore, type SessionStreamEvent } from '../src/index.js';
import { crashAgent, untilRecovered } from './agent-process.js';
import { capturingLogger, hang, LONG_WAIT, RecordingDelegate, texts } from './helpers.js';

export interface CrashStore {
  name: string;
  /** Where a new store's data lives (a file, a database URL), fresh for the test. */
  where(t: TestContext): string;
  /** A store on it (closed when the test ends). */
  open(t: TestContext, where: string): CodeCellStore;
}

export function crashPromises(kind: CrashStore): void {
  for (const remote of [false, true]) {
    const path = remote ? 'over the wire' : 'in process';
    describe(`${kind.name}, ${path}: an agent killed with -9`, { timeout: 90_000 }, () => {
      test('an approved call being made is in doubt after, not asked again; an end it saw stands', async (t) => {
        const where = kind.where(t);
        const out = await crashAgent(t, where, '--approve', '--end', '--slow', ...(remote ? ['--remote'] : []));
        assert.match(out, /^END end 10 at \d+\nREADY interrupted$/);

        const store = kind.open(t, where);
        const delegate = new RecordingDelegate({
          lookup: () => ({ n: -1 }),
          charge: hang,
          rate: () => 2,
          approve: (call) => (call.approved === true ? 'twice!' : hang()),
        });
        const logger = capturingLogger();
        let recover: () => Promise<CodeCellSession[]>;
        if (remote) {
          const client = await HostClient.spawn({ store, leaseMs: 500, processes: 1, logger });
          t.after(() => client.close());
          recover = () => client.recover(() => delegate);
        } else recover = () => SessionRuntime.recover(store, () => delegate, { logger });
        const [session] = await untilRecovered(recover);
        assert.ok(session !== undefined, 'recovered');
        t.after(() => session.shutdown());
        const told: SessionStreamEvent[] = [];
        const following = (async () => {
          for await (const event of session.events({ after: 0 })) told.push(event);
        })();

        // The approved call was being made: in doubt, with its key — not paused for approval again.
        const approval = await session.observe('3', LONG_WAIT);
        assert.deepEqual(
          approval.kind === 'interrupted' && [approval.reason, approval.tool, approval.callId, approval.idempotencyKey],
          ['inDoubt', { name: 'approve' }, 'tool-1', 'agent-1:3:tool-1'],
        );
        // The end the agent saw stands: the cell is not run again (its call is not made again).
        await assert.rejects(session.observe('4', LONG_WAIT), { code: 'ERR_MISSING_CELL' });
        const fourth = (await store.records('agent-1'))
          ?.map((text) => JSON.parse(text) as { t: string; cellId?: string; event?: { kind: string } })
          .filter((record) => record.cellId === '4' && record.t === 'end');
        assert.deepEqual(
          fourth?.map((record) => record.event?.kind),
          ['completed'],
        );
        // The person says the approved call did happen: the cell goes on with it, nothing made twice.
        const end = await session.resumeCell('3', { result: 'yes' }, LONG_WAIT);
        assert.deepEqual([end.kind, texts(end)], ['completed', ['approved yes']]);
        assert.deepEqual(
          delegate.calls.map((call) => call.tool.name),
          [],
        );
        // The stream tells cell 4's end at most once (told before the crash, or once after it).
        await session.shutdown();
        await following.catch(() => {});
        const ends = told.filter((event) => event.type === 'closed' && event.cellId === '4');
        assert.ok(ends.length <= 1, JSON.stringify(ends));
      });

      test('a decline that was durable stands: not asked again, an approval after makes nothing', async (t) => {
        const where = kind.where(t);
        const out = await crashAgent(t, where, '--decline', '--slow', ...(remote ? ['--remote'] : []));
        assert.equal(out, 'READY interrupted');

        const store = kind.open(t, where);
        const delegate = new RecordingDelegate({ lookup: () => ({ n: -1 }), charge: hang, rate: () => 2 });
        let recover: () => Promise<CodeCellSession[]>;
        if (remote) {
          const client = await HostClient.spawn({ store, leaseMs: 500, processes: 1, logger: capturingLogger() });
          t.after(() => client.close());
          recover = () => client.recover(() => delegate);
        } else recover = () => SessionRuntime.recover(store, () => delegate, { logger: capturingLogger() });
        const [session] = await untilRecovered(recover);
        assert.ok(session !== undefined, 'recovered');
        t.after(() => session.shutdown());

        const told: SessionStreamEvent[] = [];
        const following = (async () => {
          for await (const event of session.events({ after: 0 })) told.push(event);
        })();

        // The cell is not paused for the approval again: an approval now is refused, and makes nothing.
        assert.notEqual(session.cells().find((cell) => cell.cellId === '3')?.state, 'paused');
        await assert.rejects(session.resumeCell('3', { approved: true }, LONG_WAIT), {
          code: /^ERR_(MISSING_CELL|INVALID_REQUEST)$/,
        });
        // It takes the decline the person gave (it may have ended before the crash, unread).
        const end = await session.observe('3', LONG_WAIT);
        assert.equal(end.kind, 'completed');
        assert.match(end.kind === 'completed' ? (end.error ?? '') : '', /a person declined this call/);
        assert.deepEqual(
          delegate.calls.filter((call) => call.tool.name === 'approve'),
          [],
        );
        await session.shutdown();
        await following.catch(() => {});
        const again = told.filter((event) => event.type === 'paused' && event.cellId === '3');
        assert.ok(again.length <= 1, `paused for the approval again: ${JSON.stringify(told)}`);
      });
    });
  }
}
