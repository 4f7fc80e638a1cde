// What a re-homing client keeps of a session and its cells (src/ledger/session-ledger.ts,
// cell-ledger.ts, stored-history.ts; issue 64): one record per cell whose views — the calls of a
// cell lost with its host, the cell as another host runs it again — cannot disagree; answers kept
// only until delivered; stored values by commit; every figure the client's own, and what breaks
// one is the host's fault (HostBrokeBound).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostBrokeBound } from '../host/client/host-journal-shapes.js';
import { MAX_CELL_MOVES, readLog, SessionLedger, StoredHistory } from '../src/internal.js';
import type { NestedToolCall, ReplayableCell, ReplayStart } from '../src/index.js';

const FIGURES = { journalMaxBytes: 4096, maxSourceBytes: 1024, maxStoredBytes: 100 };

const call = (cellId: string, n: number, name = 'save'): NestedToolCall =>
  ({
    cellId,
    callId: `tool-${n}`,
    tool: { name },
    kind: 'function',
    input: { n },
    idempotencyKey: `s:${cellId}:tool-${n}`,
  }) as NestedToolCall;

const start = (storedAt: number | null = 0): ReplayStart => ({
  code: 'await tools.save({ n: 1 })',
  filename: 'cell.js',
  toolCallId: 'exec-1',
  tools: [{ name: 'save' }],
  limits: { ...FIGURES } as ReplayStart['limits'],
  seed: 7,
  storedAt,
});

const journaled = (n: number) => ({ callId: `tool-${n}`, index: 0, inputJson: JSON.stringify({ n }) });
const settle = (n: number, payload: string) => ({
  kind: 'settle' as const,
  callId: `tool-${n}`,
  ok: true,
  payload,
  errorKind: '',
});

/** A session ledger with cell 1 admitted and begun. */
function withCell(): SessionLedger {
  const ledger = new SessionLedger(FIGURES);
  ledger.admitted('1');
  ledger.journaled('1', start(), undefined);
  return ledger;
}

test("by reference: a start without tools or limits runs the session's; without the session's limits it breaks the protocol", () => {
  const ledger = new SessionLedger(FIGURES, undefined, [{ name: 'save', description: 'keeps n' }]);
  ledger.attached(start().limits);
  ledger.admitted('1');
  const { tools: _, limits: __, ...bare } = start();
  ledger.journaled('1', bare, undefined);
  const cell = ledger.replayable('1') as ReplayableCell;
  assert.deepEqual(cell.tools, [{ name: 'save', description: 'keeps n' }]);
  assert.deepEqual(cell.limits, start().limits);
  const unsaid = new SessionLedger(FIGURES);
  unsaid.attached(undefined);
  unsaid.admitted('1');
  assert.throws(
    () => unsaid.journaled('1', bare, undefined),
    (error: unknown) =>
      error instanceof HostBrokeBound && /names the session's limits, which its host did not say/.test(String(error)),
  );
});

test('by reference: a served call is journaled from its tool/invoke, a named answer is the one this client gave', () => {
  const ledger = withCell();
  ledger.served(call('1', 1));
  ledger.settled('1', 'tool-1', 'returned');
  ledger.answered('1', 'tool-1', { result: { ok: 'yes' } }, 14, '{"ok":"yes"}');
  ledger.served(call('1', 2));
  ledger.answered('1', 'tool-2', { result: 2 }, 13, '2');
  // The host names tool-1's answer (its call's id) and sends tool-2's own (another text than the
  // client's); an update without counts is whole (the client counts what reached it).
  ledger.journaled('1', undefined, { deliveries: ['tool-1', settle(2, '"cut"')] });
  const cell = ledger.replayable('1') as ReplayableCell;
  assert.deepEqual(cell.journal.calls, [journaled(1), journaled(2)]);
  assert.deepEqual(cell.journal.deliveries, [settle(1, '{"ok":"yes"}'), settle(2, '"cut"')]);
  assert.deepEqual(cell.outstanding, []);
});

test('one record per call: made, served, answered, delivered — the replay and the loss read the same', () => {
  const ledger = withCell();
  ledger.journaled('1', undefined, { calls: [journaled(1), journaled(2), journaled(3)], outputs: 0, notifications: 0 });
  ledger.served(call('1', 1));
  ledger.settled('1', 'tool-1', 'returned');
  ledger.answered('1', 'tool-1', { result: 10 }, 2);
  ledger.journaled('1', undefined, { deliveries: [settle(1, '10')], outputs: 1, notifications: 0 });
  ledger.served(call('1', 2));
  ledger.settled('1', 'tool-2', 'returned');
  ledger.answered('1', 'tool-2', { result: 20 }, 2);
  // tool-3 was made by the cell and never reached the delegate (queued on the host).
  const cell = ledger.replayable('1') as ReplayableCell;
  assert.deepEqual(
    cell.journal.calls.map((each) => each.callId),
    ['tool-1', 'tool-2'],
    'a call the client never got is made again, live',
  );
  assert.deepEqual(cell.outstanding, ['tool-2'], 'answered, not yet delivered: its answer goes by cell/settle');
  assert.deepEqual(cell.journal.deliveries, [settle(1, '10')]);
  assert.deepEqual(cell.storedValues, {});
  assert.deepEqual(ledger.lost('1'), {
    toolCalls: [
      { callId: 'tool-1', tool: { name: 'save' }, input: { n: 1 }, outcome: 'returned' },
      { callId: 'tool-2', tool: { name: 'save' }, input: { n: 2 }, outcome: 'returned' },
    ],
  });
  assert.equal(ledger.cell('1'), undefined, 'handed out once');
});

test('an answer that comes between hosts waits for the next one, and goes again if that one is lost too', () => {
  const ledger = withCell();
  ledger.journaled('1', undefined, { calls: [journaled(1)], outputs: 0, notifications: 0 });
  ledger.served(call('1', 1));
  const cell = ledger.cell('1');
  assert.ok(cell);
  cell.detached();
  ledger.answered('1', 'tool-1', { result: 'late' }, 6);
  const sent: string[] = [];
  cell.replaying((callId, answer) => sent.push(`${callId} ${JSON.stringify(answer)}`));
  assert.deepEqual(sent, ['tool-1 {"result":"late"}']);
  // Its new host was lost before it journaled the delivery: the answer is still there.
  cell.detached();
  cell.replaying((callId) => sent.push(`again ${callId}`));
  assert.deepEqual(sent.slice(1), ['again tool-1']);
  ledger.journaled('1', undefined, { deliveries: [settle(1, '"late"')], outputs: 0, notifications: 0 });
  assert.deepEqual((ledger.replayable('1') as ReplayableCell).outstanding, [], 'delivered: kept once, as the delivery');
});

test('a cell runs again after at most MAX_CELL_MOVES losses, then says why it cannot', () => {
  const ledger = withCell();
  const cell = ledger.cell('1');
  assert.ok(cell);
  for (let move = 0; move < MAX_CELL_MOVES; move++) {
    assert.equal(cell.unreplayable, undefined, `move ${move}`);
    cell.replaying(() => {});
  }
  assert.match(
    cell.unreplayable ?? '',
    /ran again after 8 losses of its host, the bound against a cell that takes its hosts down/,
  );
  assert.equal(typeof ledger.replayable('1'), 'string');
});

test('past its journal bound the ledger keeps only the calls (no answer, no clock), and says why', () => {
  const ledger = withCell();
  ledger.journaled('1', undefined, { calls: [journaled(1)], outputs: 0, notifications: 0 });
  ledger.served(call('1', 1));
  // The answer alone passes twice journalMaxBytes and its code (2 × 4096 + 2 × 1024).
  ledger.answered('1', 'tool-1', { result: 'x'.repeat(20_000) }, 20_002);
  assert.equal(
    ledger.replayable('1'),
    'its journal and the answers waiting for it passed twice journalMaxBytes (4096)',
  );
  assert.deepEqual(ledger.lost('1').toolCalls, [
    { callId: 'tool-1', tool: { name: 'save' }, input: { n: 1 }, outcome: 'pending' },
  ]);
});

test('what the host sends past the client’s figures, or out of turn, is the host’s fault', () => {
  const cases: [string, (ledger: SessionLedger) => void, RegExp][] = [
    ['a second start', (l) => l.journaled('1', start(), undefined), /a second start of cell 1's journal/],
    [
      'a journal past twice the bound',
      (l) =>
        l.journaled('1', undefined, {
          clock: Array.from({ length: 1_000 }, (_, i) => i),
          outputs: 0,
          notifications: 0,
        }),
      /cell 1's journal of \d+ bytes, over twice its journalMaxBytes \(4096\)/,
    ],
    [
      'a delivery of a call it does not hold',
      (l) => l.journaled('1', undefined, { deliveries: [settle(9, '1')], outputs: 0, notifications: 0 }),
      /delivers tool-9, a call it does not hold/,
    ],
    [
      'an answer named that this client never gave',
      (l) => {
        l.served(call('1', 4));
        // (the form of earlier hosts, still read)
        l.journaled('1', undefined, {
          deliveries: [{ kind: 'answered', callId: 'tool-4' }],
          outputs: 0,
          notifications: 0,
        });
      },
      /names tool-4's answer, which this client did not give/,
    ],
    [
      'an answer named twice',
      (l) => {
        l.served(call('1', 6));
        l.answered('1', 'tool-6', { result: 6 }, 11, '6');
        l.journaled('1', undefined, { deliveries: ['tool-6'] });
        l.journaled('1', undefined, { deliveries: ['tool-6'] });
      },
      /names tool-6's answer, which this client did not give/,
    ],
    [
      'a tool/invoke of a tool the cell does not have',
      (l) => l.served(call('1', 5, 'drop')),
      /tool-5 calls a tool the cell does not have/,
    ],
    [
      'a cell never admitted',
      (l) => l.journaled('7', start(), undefined),
      /a journal of cell 7, which this client never saw admitted/,
    ],
    [
      'a commit that was never sent',
      (l) => {
        l.admitted('2');
        l.journaled('2', start(3), undefined);
      },
      /cell 2 started at commit 3 of 0 sent/,
    ],
    [
      'stored values past maxStoredBytes',
      (l) => l.committed({ big: JSON.stringify('x'.repeat(200)) }),
      /past the session's maxStoredBytes \(100\)/,
    ],
  ];
  for (const [what, send, message] of cases) {
    const ledger = withCell();
    assert.throws(
      () => send(ledger),
      (error: unknown) => error instanceof HostBrokeBound && message.test((error as Error).message),
      what,
    );
  }
  // An update before any start, for a cell of an execute in flight.
  const early = new SessionLedger(FIGURES);
  const done = early.executing(undefined);
  assert.throws(
    () => early.journaled('1', undefined, { outputs: 0, notifications: 0 }),
    /a journal of cell 1 before its start/,
  );
  done();
});

test('an execute in flight may be heard of before its answer, once: ids continue after it if it never comes', () => {
  const ledger = new SessionLedger(FIGURES);
  const done = ledger.executing(undefined);
  ledger.journaled('3', start(), undefined); // a host's ids may skip (a refused admission used one)
  assert.throws(() => ledger.journaled('4', start(), undefined), HostBrokeBound, 'one cell per execute');
  done(); // its answer never came (its host was lost)
  assert.equal(ledger.restore().nextCellId, 4, 'the lost host used id 3');
  assert.equal(ledger.cell('3'), undefined);
});

test('stored values by commit: a cell started before later commits gets the values as they were', () => {
  const ledger = new SessionLedger(FIGURES, { storedValues: { a: '1' }, nextCellId: 1 });
  ledger.attached();
  ledger.admitted('1');
  ledger.journaled('1', start(0), undefined);
  ledger.committed({ a: '2', b: '3' });
  ledger.committed({ a: '4' });
  assert.deepEqual((ledger.replayable('1') as ReplayableCell).storedValues, { a: '1' });
  assert.deepEqual(ledger.restore().storedValues, { a: '4', b: '3' });
  // On its next host, that host's commit 0 is the client's commit 2.
  ledger.attached();
  ledger.admitted('2');
  ledger.journaled('2', start(0), undefined);
  ledger.committed({ b: '5' });
  assert.deepEqual((ledger.replayable('2') as ReplayableCell).storedValues, { a: '4', b: '3' });
  ledger.drop('1');
  ledger.drop('2');
});

test('stored history: undo kept only while a cell references an older commit, within twice the bound', () => {
  const history = new StoredHistory(10, { k: '1' });
  const pinned = history.pin();
  assert.equal(history.commit({ k: '22' }), true);
  assert.equal(history.commit({ n: '333' }), true);
  assert.deepEqual(history.at(pinned), { k: '1' });
  assert.deepEqual(history.at(1), { k: '22' });
  assert.equal(history.commit({ k: '4444444444' }), false, '17 bytes of 10: refused whole');
  history.release(pinned);
  assert.equal(history.at(pinned), undefined, 'nothing references it: not kept');
  assert.deepEqual(history.at(history.commits), { k: '22', n: '333' });
  // Past twice the bound of undo, the oldest commits can no longer be rebuilt.
  const small = new StoredHistory(4);
  const old = small.pin();
  for (let i = 0; i < 5; i++) small.commit({ a: String(i) });
  assert.equal(small.at(old), undefined);
  assert.equal(small.reference(old), false);
});

test('without a journal the record lists the newest 1 000 calls; the oldest answered go, a waiting one stays', () => {
  const ledger = new SessionLedger({ ...FIGURES, journalMaxBytes: 0 });
  ledger.admitted('1');
  ledger.served(call('1', 0, 'slow'));
  for (let n = 1; n <= 1_005; n++) {
    ledger.served(call('1', n));
    ledger.settled('1', `tool-${n}`, 'returned');
    ledger.answered('1', `tool-${n}`, { result: n }, 4);
  }
  assert.equal(ledger.replayable('1'), 'its host sent no journal (journalMaxBytes 0)');
  const lost = ledger.lost('1');
  assert.equal(lost.toolCallsDropped, 6);
  assert.equal(lost.toolCalls.length, 1_000);
  assert.deepEqual(lost.toolCalls[0], {
    callId: 'tool-0',
    tool: { name: 'slow' },
    input: { n: 0 },
    outcome: 'pending',
  });
  assert.deepEqual(
    lost.toolCalls.slice(1, 3).map((each) => each.callId),
    ['tool-7', 'tool-8'],
  );
});

test('a call in doubt made again by its run: kept for a loss until that run journals it, then its own again', () => {
  const ledger = withCell();
  ledger.journaled('1', undefined, { calls: [journaled(1)] });
  ledger.served(call('1', 1));
  // A recovery: tool-1 is in doubt, its tool idempotent; the cell's run makes it again.
  ledger.replaying('1', undefined, ['tool-1']);
  // A move before the run journals it leaves it out (its run makes it); a loss lists it, in doubt.
  assert.deepEqual((ledger.replayable('1') as ReplayableCell).journal.calls, []);
  assert.deepEqual(
    ledger
      .cell('1')
      ?.lost(true)
      .toolCalls.map((listed) => [listed.callId, listed.outcome]),
    [['tool-1', 'inDoubt']],
  );
  // The new run journals it and its host serves it, then delivers its answer: no protocol broken.
  ledger.journaled('1', undefined, { calls: [journaled(1)] });
  ledger.served(call('1', 1));
  ledger.answered('1', 'tool-1', { result: 2 }, 1, '2');
  ledger.journaled('1', undefined, { deliveries: ['tool-1'] });
  assert.deepEqual(
    ledger
      .cell('1')
      ?.lost()
      .toolCalls.map((listed) => [listed.callId, listed.outcome]),
    [['tool-1', 'returned']],
  );
});

test('a paused call whose answer was written (a decline) pauses the cell nowhere again, read back or moved', () => {
  const ledger = withCell();
  ledger.journaled('1', undefined, { calls: [journaled(1)], outputs: 0, notifications: 0 });
  ledger.served(call('1', 1));
  ledger.interrupted('1', 'tool-1', '{"ask":"deploy?"}');
  const paused = { kind: 'interrupted', cellId: '1', callId: 'tool-1', tool: { name: 'save' }, input: { n: 1 } };
  ledger.observed('1', { ...paused, payload: { ask: 'deploy?' }, items: [] } as never);
  ledger.answered('1', 'tool-1', { error: 'tools.save was not run: a person declined this call' }, 50);
  // A recovery reads it back: the cell runs again and takes the decline — no pause is queued for it.
  ledger.cell('1')?.readBack();
  const cell = ledger.replayable('1') as ReplayableCell;
  assert.equal(cell.paused, undefined);
  assert.equal(cell.queued, undefined);
  assert.deepEqual(cell.outstanding, ['tool-1']);
  const sent: string[] = [];
  ledger.cell('1')?.replaying((callId, answer) => sent.push(`${callId} ${JSON.stringify(answer)}`));
  assert.deepEqual(sent, ['tool-1 {"error":"tools.save was not run: a person declined this call"}']);
});

test('a journal part of a cell whose end was read: not written, and a log holding one (compacted) still reads', () => {
  const written: string[] = [];
  const ledger = withCell();
  const log = async (text: string): Promise<void> => void written.push(text);
  ledger.logTo({ write: log, later: log });
  ledger.drop('1');
  ledger.journaled('1', undefined, { outputs: 1, notifications: 0 });
  assert.equal(ledger.cell('1'), undefined);
  const session = '{"t":"session","options":{"tools":[],"key":"s"}}';
  // What an older codecell wrote after a compaction dropped the cell's earlier records.
  const read = readLog([session, '{"t":"journal","cellId":"5","update":{"outputs":1,"notifications":0}}']);
  assert.deepEqual([read.ledger.cellIds, read.ledger.restore().nextCellId], [[], 6]);
  assert.deepEqual(written, ['{"t":"end","cellId":"1"}'], 'its end, and no part after it');
});
