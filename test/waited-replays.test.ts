// ADR 23: a result the sandbox's wait took enters right after its call, before the microtasks
// queued after it; one that enters as a task comes after them. The journal records which results
// the waits took (the number of each ask), and a run again from it — resumeCell, a snapshot
// resumed elsewhere — answers each ask the same way, whatever its tools' speed now.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SessionRuntime, type PausedCellSnapshot, type ReplayableCell, type SessionSnapshot } from '../src/index.js';
import { SessionLedger, waitedDeliveriesCount } from '../src/internal.js';
import { approvals, APPROVAL_TOOLS as TOOLS, LONG_WAIT as WAIT, newRuntime, texts } from './helpers.js';
import { bothKinds } from './sessions.js';

/**
 * A cell of 2–4 workers side by side, each a few steps: an instant call (`get`), a call that
 * answers after `d` ms (`slow`, 0 is the next turn), an instant call whose reaction races a chain
 * of two microtasks (a result the wait took runs it first), a timer. The
 * first worker asks for an approval after its steps: the cell pauses there, the others' steps
 * done or under way. Every call's input is different, so a call made twice shows, and holds the
 * order the cell saw so far, so a replay that saw another is found diverged at its next call.
 */
function randomCell(seed: number): string {
  let state = seed;
  const next = (below: number): number => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return (state >>> 8) % below;
  };
  let input = 0;
  const workers: string[] = [];
  const count = 2 + next(3);
  for (let w = 0; w < count; w++) {
    const steps: string[] = [];
    const length = 3 + next(6);
    for (let step = 0; step < length; step++) {
      const kind = next(4);
      const n = ++input;
      if (kind === 0) steps.push(`order.push('g' + (await tools.get({ n: ${n}, at: order.join() })).n);`);
      else if (kind === 1)
        steps.push(`order.push('s' + (await tools.slow({ n: ${n}, d: ${next(3)}, at: order.join() })));`);
      else if (kind === 2)
        steps.push(
          `const p${n} = tools.get({ n: ${n}, at: order.join() }).then((r) => order.push('p' + r.n));` +
            ` await null; await null; order.push('m${n}'); await p${n};`,
        );
      else steps.push(`await new Promise((resolve) => setTimeout(resolve, 0)); order.push('t${n}');`);
    }
    if (w === 0) steps.push(`await tools.approve({ at: order.join() }); order.push('ok');`);
    workers.push(`(async () => { ${steps.join(' ')} })()`);
  }
  return `const order = [];\nawait Promise.all([\n  ${workers.join(',\n  ')},\n]);\ntext(order.join(' '));`;
}

/** `get` answers at once; `slow` after `d` ms. */
function delegate(): ReturnType<typeof approvals> {
  const recording = approvals();
  recording.tools.slow = async (call) => {
    const { n, d } = call.input as { n: number; d: number };
    await new Promise((resolve) => setTimeout(resolve, d));
    return n;
  };
  return recording;
}

/** A client's ledger's own figures (test/ledger.test.ts). */
const FIGURES = { journalMaxBytes: 4096, maxSourceBytes: 1024, maxStoredBytes: 100 };

const inputsOf = (recording: ReturnType<typeof approvals>): string[] =>
  recording.calls.map((call) => `${call.tool.name} ${JSON.stringify(call.input)}`);

for (const kind of bothKinds) {
  describe(`${kind.name}: a replay answers the waits as the first run's were`, { timeout: 120_000 }, () => {
    test('racing cells paused for an approval resume to completion, each call made once', async (t) => {
      let waited = 0;
      for (let seed = 1; seed <= 16; seed++) {
        const source = randomCell(seed);
        const recording = delegate();
        const session = await kind.open(t, recording, { tools: TOOLS });
        const before = waitedDeliveriesCount();
        const first = await (await session.execute({ source })).initialEvent;
        assert.equal(first.kind, 'interrupted', `seed ${seed}: ${JSON.stringify(first)}\n${source}`);
        const resumed = await session.resumeCell('1', { result: true }, WAIT);
        waited += waitedDeliveriesCount() - before;
        assert.equal(resumed.kind, 'completed', `seed ${seed}: ${JSON.stringify(resumed)}\n${source}`);
        const made = inputsOf(recording);
        assert.equal(new Set(made).size, made.length, `seed ${seed}: a call was made twice: ${made.join('; ')}`);
        const [line] = texts(resumed);
        assert.ok(line?.split(' ').includes('ok'), `seed ${seed}: ${line ?? ''}`);
        await session.shutdown();
      }
      assert.ok(waited > 0, 'some results entered through a wait');
    });
  });
}

describe('a paused cell whose waits took results, in a snapshot', { timeout: 60_000 }, () => {
  const RACING = `
    const order = [];
    for (let i = 0; i < 20; i++) order.push((await tools.get({ n: i })).n);
    const x = tools.get({ n: 100 });
    const beside = (async () => { await null; await null; order.push((await tools.get({ n: 200 })).n); })();
    order.push((await x).n);
    order.push((await tools.get({ n: 300 })).n);
    await beside;
    await tools.approve({ order });
    text(order.slice(20).join(' '));`;

  for (const kind of bothKinds) {
    test(`suspended (${kind.name}) and resumed in a new session, it answers the same asks alike`, async (t) => {
      const session = await kind.open(t, approvals(), { tools: TOOLS });
      const first = await (await session.execute({ source: RACING })).initialEvent;
      assert.equal(first.kind, 'interrupted');
      const suspendable = session as unknown as { suspend(): Promise<SessionSnapshot> };
      const snapshot = JSON.parse(JSON.stringify(await suspendable.suspend())) as SessionSnapshot;
      const waited = snapshot.pausedCells?.[0]?.journal.waited ?? [];
      for (const pair of waited) assert.equal(pair.length, 2);
      // In process the instant results are ready when the waits ask; over the link few are.
      if (kind === bothKinds[0]) assert.ok(waited.length > 0, 'the journal records the results the waits took');
      const asked = first.kind === 'interrupted' ? (first.payload as { asked: { order: number[] } }).asked.order : [];

      const later = approvals();
      const resumed = newRuntime(t, later, {}, snapshot);
      const done = await resumed.resumeCell('1', { result: true }, WAIT);
      assert.equal(done.kind, 'completed', JSON.stringify(done));
      assert.deepEqual(texts(done), [asked.slice(20).join(' ')]);
      assert.equal(later.calls.length, 0, 'no call was made again');
    });
  }

  test('a malformed record of the waits is refused, saying what is wrong', async (t) => {
    const session = newRuntime(t, approvals(), { tools: TOOLS });
    assert.equal((await (await session.execute({ source: RACING })).initialEvent).kind, 'interrupted');
    const snapshot = JSON.parse(JSON.stringify(await session.suspend())) as SessionSnapshot;
    const withWaited = (waited: unknown): SessionSnapshot => {
      const copy = JSON.parse(JSON.stringify(snapshot)) as SessionSnapshot;
      (copy.pausedCells?.[0]?.journal as unknown as Record<string, unknown>).waited = waited;
      return copy;
    };
    const cases: [unknown, string][] = [
      [{}, 'journal.waited must be an array'],
      [[[0, 1, 2]], 'journal.waited[] needs the position of a delivery, after the one before it'],
      [[[10_000, 1]], 'journal.waited[] needs the position of a delivery, after the one before it'],
      [
        [
          [1, 2],
          [0, 3],
        ],
        'journal.waited[] needs the position of a delivery, after the one before it',
      ],
      [[[0, 0]], 'journal.waited[] needs the number of an ask, above the one before it'],
      [
        [
          [0, 2],
          [1, 2],
        ],
        'journal.waited[] needs the number of an ask, above the one before it',
      ],
    ];
    for (const [waited, message] of cases) {
      assert.throws(() => SessionRuntime.resume(withWaited(waited), approvals()), {
        code: 'ERR_INVALID_REQUEST',
        message: `cannot resume the session: snapshot.pausedCells[0]: ${message}`,
      });
    }
  });
});

test("a client's ledger keeps a restored paused cell's record of its waits for a new host", { timeout: 10_000 }, () => {
  const paused = (waited?: [number, number][]): PausedCellSnapshot => ({
    code: 'await tools.save({ n: 1 }); await tools.save({ n: 2 })',
    filename: 'cell.js',
    toolCallId: 'exec-1',
    tools: [{ name: 'save' }],
    limits: { ...FIGURES } as PausedCellSnapshot['limits'],
    storedValues: null,
    journal: {
      seed: 7,
      clock: [],
      calls: [1, 2].map((n) => ({ callId: `tool-${n}`, index: 0, inputJson: JSON.stringify({ n }) })),
      deliveries: [{ kind: 'settle', callId: 'tool-1', ok: true, payload: '{"n":1}', errorKind: '' }],
      outputs: 0,
      notifications: 0,
      ...(waited === undefined ? {} : { waited }),
    },
    held: [],
    event: {
      kind: 'interrupted',
      cellId: '1',
      items: [],
      callId: 'tool-2',
      tool: { name: 'save' },
      input: { n: 2 },
      payload: null,
    },
  });
  const restored = (cell: PausedCellSnapshot) =>
    (
      new SessionLedger(FIGURES, { storedValues: {}, nextCellId: 2, pausedCells: [cell] }).replayable(
        '1',
      ) as ReplayableCell
    ).journal;
  assert.deepEqual(restored(paused([[0, 3]])).waited, [[0, 3]]);
  assert.equal('waited' in restored(paused()), false);
});
