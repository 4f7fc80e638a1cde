// The nemesis's checker (bench/nemesis/check.ts) catches what it is there for: a call of a tool
// that is not idempotent made twice, an effect no agent wrote down, an answer that never took
// effect, a stored value gone back, a cell printing a second effect, and a store after the quiet
// phase with a session lost, unheld or with a cell still open; and of the durable cursors
// (bench/nemesis/cursors.ts) a follower skipped or repeated, a cell's end told twice, one seq two
// events, a completed cell whose end no follower was told. A clean history gives none.
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
const CLEAN: AgentEntry[] = [
  { t: 'invoke', key: 's:1:tool-1', tool: 'charge' },
  { t: 'outcome', key: 's:1:tool-1', ok: true },
  { t: 'invoke', key: 's:1:tool-2', tool: 'rate' },
  { t: 'outcome', key: 's:1:tool-2', ok: true },
  done('1', 'i=1 1/2/1'),
  done('2', 'i=2 1/1/1'),
];
const effects = (changes: Record<string, number> = {}) =>
  new Map(
    Object.entries({ 's:1:tool-1': 1, 's:1:tool-2': 2, ...changes }).map(([key, times]) => [
      key,
      { tool: key.endsWith('tool-2') ? 'rate' : 'charge', times },
    ]),
  );

test('the nemesis checker: a clean history passes, each broken promise is named', { timeout: 10_000 }, () => {
  assert.deepEqual(check(CLEAN, effects()), []);
  assert.deepEqual(check(CLEAN, effects({ 's:1:tool-1': 2 })), ['charge s:1:tool-1 took effect 2 times']);
  assert.deepEqual(check(CLEAN, effects({ 's:9:tool-1': 1 })), [
    'charge s:9:tool-1 took effect, and no agent wrote that it made it',
  ]);
  assert.deepEqual(check(CLEAN, new Map([['s:1:tool-2', { tool: 'rate', times: 1 }]])), [
    's:1:tool-1 was answered, and never took effect',
  ]);
  assert.deepEqual(check([...CLEAN, done('3', 'i=2 1/1/1')], effects()), ['session s: cells 2 and 3 both stored i=2']);
  assert.deepEqual(check([...CLEAN, done('3', 'i=3 2/1/1')], effects()), ['session s cell 3 printed i=3 2/1/1']);
  assert.deepEqual([...figures(CLEAN)], [['completed', 2]]);
  const held = { owner: 'a', leaseExpiresAt: 2_000, openCells: 0, pausedCells: 0, metadata: null };
  assert.deepEqual(checkSessions([{ key: 's', ...held }], 1, 1_000), []);
  const open = new Map([['s', ['7']]]);
  assert.deepEqual(checkSessions([{ key: 's', ...held, leaseExpiresAt: 500, openCells: 1 }], 2, 1_000, open), [
    '2 sessions were made; the store has 1',
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
  const entries = [done('1', 'i=1 1/1/1'), done('2', 'i=2 1/1/1')];
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
    'session s: seq 1 was admitted 1 and admitted 9',
    'session s: follower b/1 (after 0) failed: ERR_INVALID_REQUEST',
    'session s: cell 2 completed, and no follower was told',
  ]);
});

test("the nemesis checker: a violation's history", { timeout: 10_000 }, () => {
  const told: CursorLine[] = [
    { run: 'a/1', after: 0, seq: 1, type: 'admitted', cellId: '2' },
    { run: 'a/1', after: 0, seq: 2, type: 'admitted', cellId: '3' },
  ];
  assert.deepEqual(historyOf('charge s:1:tool-1 took effect 2 times', CLEAN, new Map()), [
    '{"t":"invoke","key":"s:1:tool-1","tool":"charge"}',
    '{"t":"outcome","key":"s:1:tool-1","ok":true}',
  ]);
  assert.deepEqual(historyOf("session s: follower a/1 told cell 2's end twice", CLEAN, new Map([['s', told]])), [
    JSON.stringify(done('2', 'i=2 1/1/1')),
    JSON.stringify(told[0]),
  ]);
  assert.deepEqual(historyOf('2 sessions were made; the store has 1', CLEAN, new Map()), []);
});
