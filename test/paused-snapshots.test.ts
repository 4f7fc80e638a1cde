// Issue 53 (SPEC §13): a cell a CellInterrupt paused, in a suspended session's snapshot — resumed
// in another session or process it runs on from its journal; a journal that no longer matches the
// cell stops the replay at once; a malformed paused cell is refused saying why.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SessionRuntime, type SessionSnapshot } from '../src/index.js';
import { connectInProcess } from '../host/in-process.js';
import {
  approvals,
  APPROVAL_TOOLS as TOOLS,
  capturingLogger,
  deferred,
  LONG_WAIT as WAIT,
  newRuntime,
  texts,
} from './helpers.js';

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
