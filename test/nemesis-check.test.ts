// The nemesis's checker (bench/nemesis/check.ts) catches what it is there for: a call of a tool
// that is not idempotent made twice, an effect no agent wrote down, an answer that never took
// effect, a stored value gone back, one cell id ending as two cells, a cell printing a second
// effect, and a store after the quiet phase with a session lost, unheld or with a cell still
// open; and of the durable cursors (bench/nemesis/cursors.ts) a follower skipped or repeated, a
// cell's end told twice, one seq two events, a completed cell whose end no follower was told. A
// clean history gives none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { check, checkSessions, figures } from '../bench/nemesis/check.js';
import type { AgentEntry } from '../bench/nemesis/entries.js';
import { checkCursors, type CursorLine } from '../bench/nemesis/cursors.js';
import { historyOf } from '../bench/nemesis/history.js';

const done = (cellId: string, text: string): AgentEntry => ({
  t: 'cell',
  session: 's',
  cellId,
  event: { kind: 'completed', cellId, text },
});
/** A completed cell's text as the nemesis cell prints it: its counter, each call's outcome as told. */
const told = (i: number, charge = 'ok:1', rate = 'ok:1', lookup = 'ok:1', deploy = 'none'): string =>
  JSON.stringify({ i, charge, rate, lookup, deploy });
const CLEAN: AgentEntry[] = [
  { t: 'invoke', key: 's:1:tool-1', tool: 'charge' },
  { t: 'outcome', key: 's:1:tool-1', ok: true },
  { t: 'invoke', key: 's:1:tool-2', tool: 'rate' },
  { t: 'outcome', key: 's:1:tool-2', ok: true },
  { t: 'invoke', key: 's:1:tool-3', tool: 'lookup' },
  { t: 'outcome', key: 's:1:tool-3', ok: true },
  done('1', told(1, 'ok:1', 'ok:2', 'ok:1')),
];
const effects = (changes: Record<string, number> = {}) =>
  new Map(
    Object.entries({ 's:1:tool-1': 1, 's:1:tool-2': 2, 's:1:tool-3': 1, ...changes })
      .filter(([, times]) => times > 0)
      .map(([key, times]) => [
        key,
        { tool: ['charge', 'rate', 'lookup', 'deploy'][Number(key.slice(-1)) - 1] as string, times },
      ]),
  );

test('the nemesis checker: a clean history passes, each broken promise is named', { timeout: 10_000 }, () => {
  assert.deepEqual(check(CLEAN, effects()), []);
  assert.deepEqual(check(CLEAN, effects({ 's:1:tool-1': 2 })), ['charge s:1:tool-1 took effect 2 times']);
  assert.deepEqual(check(CLEAN, effects({ 's:9:tool-1': 1 })), [
    'charge s:9:tool-1 took effect, and no agent wrote that it made it',
  ]);
  assert.deepEqual(check(CLEAN, effects(), ['s:1:tool-3']), [
    's:1:tool-3 took effect with no started record in its store',
  ]);
  assert.deepEqual(check(CLEAN, effects({ 's:1:tool-1': 0 })), [
    's:1:tool-1 was answered, and never took effect',
    'session s cell 1: charge s:1:tool-1 was told a success, and never took effect',
  ]);
  assert.deepEqual([...figures(CLEAN)], [['completed', 1]]);
});

test('the nemesis checker: what each cell was told of each call, against what took effect', { timeout: 10_000 }, () => {
  const cell = (text: string): AgentEntry[] => [...CLEAN.slice(0, 6), done('1', text)];
  // In doubt, or a failure of a call that never took effect: as it should be.
  assert.deepEqual(check(cell(told(1, 'err:left in doubt', 'ok:2', 'ok:1')), effects()), []);
  const declined = [...CLEAN.slice(2, 6), done('1', told(1, 'err:declined', 'ok:2', 'ok:1'))];
  assert.deepEqual(check(declined, effects({ 's:1:tool-1': 0 })), []);
  // A call that took effect told as a plain failure; one told twice its effect.
  assert.deepEqual(check(cell(told(1, 'err:the call failed', 'ok:2', 'ok:1')), effects()), [
    'session s cell 1: charge s:1:tool-1 took effect, and was told a failure (err:the call failed)',
  ]);
  // ...but an idempotent call made again whose last attempt failed in the agent's own delegate
  // (its answer lost on the way) may be told that failure: one attempt took effect, one failed.
  const retried: AgentEntry[] = [
    ...CLEAN.slice(0, 6),
    { t: 'invoke', key: 's:1:tool-2', tool: 'rate' },
    { t: 'outcome', key: 's:1:tool-2', ok: false },
    done('1', told(1, 'ok:1', 'err:fetch failed', 'ok:1')),
  ] as AgentEntry[];
  assert.deepEqual(check(retried, effects()), []);
  assert.deepEqual(check(cell(told(1, 'ok:1', 'ok:2', 'ok:2')), effects({ 's:1:tool-3': 2 })), [
    'lookup s:1:tool-3 took effect 2 times',
    'session s cell 1: lookup s:1:tool-3 was told ok:2',
  ]);
  // Every completed cell is read: one whose text is not what the cell prints, or with an error, is named.
  assert.deepEqual(check(cell('i=1 1/1/1'), effects()), ['session s cell 1 completed with text "i=1 1/1/1"']);
  const failed: AgentEntry = {
    t: 'cell',
    session: 's',
    cellId: '1',
    event: { kind: 'completed', cellId: '1', text: '', error: 'Error: boom' },
  } as AgentEntry;
  assert.deepEqual(check([...CLEAN.slice(0, 6), failed], effects()), [
    'session s cell 1 completed with error Error: boom',
  ]);
  // Stored values never go back.
  assert.deepEqual(check([...CLEAN, done('2', told(1, 'none', 'none', 'none'))], effects()), [
    'session s: cells 1 and 2 both stored i=1',
  ]);
  // One cell id, two ends: an id given to two cells (their calls shared idempotency keys). One
  // cell's end told twice (after a recovery) is one end.
  assert.deepEqual(check([...CLEAN, done('1', told(1, 'ok:1', 'ok:2', 'ok:1'))], effects()), []);
  assert.deepEqual(check([...CLEAN, done('1', told(2, 'none', 'none', 'none'))], effects()), [
    'session s: cell 1 completed as i=1 and as i=2 (one id, two cells)',
  ]);
});

test('the nemesis checker: the stores after the quiet phase', { timeout: 10_000 }, () => {
  const held = { owner: 'a', leaseExpiresAt: 2_000, openCells: 0, pausedCells: 0, metadata: null };
  assert.deepEqual(checkSessions([{ key: 's', ...held }], ['s'], 1_000), []);
  // A session whose creation was never answered may be gone (its creator died before writing it).
  assert.deepEqual(checkSessions([{ key: 's', ...held }], [], 1_000), []);
  const open = new Map([['s', ['7']]]);
  assert.deepEqual(checkSessions([{ key: 's', ...held, leaseExpiresAt: 500, openCells: 1 }], ['s', 't'], 1_000, open), [
    'session t was made, and the store lost it',
    "session s: no agent holds it (a's lease ran out)",
    'session s: 1 cell(s) still open after the quiet phase (held by a; its log: cells 7)',
  ]);
});

test('the nemesis checker: durable cursors', { timeout: 10_000 }, () => {
  const line = (run: string, after: number, seq: number, type: string, cellId: string): CursorLine => ({
    run,
    after,
    seq,
    type,
    cellId,
    ...(type === 'closed' ? { kind: 'completed' } : {}),
  });
  // Cell 1 told by a first follower; a second one, after its last seq, told cell 2.
  const clean = [
    line('a/1', 0, 1, 'admitted', '1'),
    line('a/1', 0, 2, 'closed', '1'),
    line('b/1', 2, 3, 'admitted', '2'),
    line('b/1', 2, 4, 'closed', '2'),
  ];
  const entries = [done('1', told(1)), done('2', told(2))];
  assert.deepEqual(checkCursors(new Map([['s', clean]]), entries), []);
  // The second follower starting before the first's last (as a woken former owner's may) is no violation.
  const overlap = [...clean, line('c/1', 1, 2, 'closed', '1'), line('c/1', 1, 3, 'admitted', '2')];
  assert.deepEqual(checkCursors(new Map([['s', overlap]]), entries), []);
  const broken = [
    line('a/1', 0, 1, 'admitted', '1'),
    line('a/1', 0, 3, 'closed', '1'),
    line('a/1', 0, 4, 'closed', '1'),
    line('b/1', 0, 1, 'admitted', '9'),
    { ...line('b/1', 0, -1, 'error', ''), error: 'ERR_INVALID_REQUEST' },
  ];
  assert.deepEqual(checkCursors(new Map([['s', broken]]), entries), [
    'session s: follower a/1 was handed seq 3 after 1',
    "session s: follower a/1 told cell 1's end twice",
    "session s: cell 1's end was told twice, as seq 3 and 4",
    'session s: seq 1 was admitted 1 and admitted 9',
    'session s: follower b/1 (after 0) failed: ERR_INVALID_REQUEST',
    'session s: cell 2 completed, and no follower was told',
  ]);
  // Successive followers told one cell's end as two events.
  const twice = [...clean, line('c/1', 4, 5, 'closed', '2')];
  assert.deepEqual(checkCursors(new Map([['s', twice]]), entries), [
    "session s: cell 2's end was told twice, as seq 4 and 5",
  ]);
});

test("the nemesis checker: a violation's history", { timeout: 10_000 }, () => {
  const seen: CursorLine[] = [
    { run: 'a/1', after: 0, seq: 1, type: 'admitted', cellId: '2' },
    { run: 'a/1', after: 0, seq: 2, type: 'admitted', cellId: '3' },
  ];
  assert.deepEqual(historyOf('charge s:1:tool-1 took effect 2 times', CLEAN, new Map()), [
    '{"t":"invoke","key":"s:1:tool-1","tool":"charge"}',
    '{"t":"outcome","key":"s:1:tool-1","ok":true}',
  ]);
  assert.deepEqual(
    historyOf(
      "session s: follower a/1 told cell 2's end twice",
      [...CLEAN, done('2', told(2))],
      new Map([['s', seen]]),
    ),
    [JSON.stringify(done('2', told(2))), JSON.stringify(seen[0])],
  );
  assert.deepEqual(historyOf('session t was made, and the store lost it', CLEAN, new Map()), []);
});
