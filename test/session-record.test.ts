// What a remote session keeps to rebuild itself on another host (host/client/session-record.ts):
// stored values within their bound, the next cell id, which cells run, and each open cell's tool
// calls as a lost cell reports them (the newest 1 000, the oldest answered ones counted).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionRecord } from '../host/client/session-record.js';
import type { NestedToolCall, ToolCallRecord } from '../src/index.js';

const call = (cellId: string, n: number, tool: NestedToolCall['tool'] = { name: 'save' }): NestedToolCall =>
  ({ cellId, callId: `tool-${n}`, tool, kind: 'function', input: { n } }) as NestedToolCall;

test('stored values: replaced keys are counted once; a commit past the bound makes the record not whole', () => {
  // Bytes: key + JSON text. a + "xx" = 5, then a + "y" = 4, then b + 12345 = 6: 10 of 10.
  const record = new SessionRecord(10);
  record.committed({ a: '"xx"' });
  record.committed({ a: '"y"' });
  record.committed({ b: '12345' });
  assert.equal(record.whole, true);
  assert.deepEqual(record.restore().storedValues, { a: '"y"', b: '12345' });
  record.committed({ c: '1' });
  assert.equal(record.whole, false, '12 bytes of 10: not trusted');
  assert.deepEqual(record.restore().storedValues, {});
});

test('a restored record starts from its snapshot; ids continue after the highest seen', () => {
  const record = new SessionRecord(100, { storedValues: { k: '1' }, nextCellId: 10 });
  assert.deepEqual(record.restore(), { storedValues: { k: '1' }, nextCellId: 10 });
  record.admitted('4'); // lower than the snapshot's: no step back
  record.cellSeen('setup'); // not a number: ignored
  assert.equal(record.restore().nextCellId, 10);
  record.admitted('12');
  record.toolCall(call('15', 1));
  assert.equal(record.restore().nextCellId, 16, 'a call names its cell too');
});

test('running cells: admitted until closed, also when the close came first', () => {
  const record = new SessionRecord(100);
  record.cellClosed('1'); // a fast cell: closed before the client learned of it
  record.admitted('1');
  assert.equal(record.running, 0);
  record.admitted('2');
  record.admitted('3');
  assert.equal(record.running, 2);
  record.cellClosed('2');
  assert.equal(record.running, 1);
  record.lost('3');
  assert.equal(record.running, 0);
});

test('a lost cell lists its calls as they stood, copies the caller cannot change later', () => {
  const record = new SessionRecord(100);
  const first = record.toolCall(call('1', 1, { name: 'get', namespace: 'docs' }));
  record.toolCall(call('1', 2));
  first.outcome = 'returned';
  const lost = record.lost('1');
  assert.deepEqual(lost, {
    toolCalls: [
      { callId: 'tool-1', tool: { name: 'get', namespace: 'docs' }, input: { n: 1 }, outcome: 'returned' },
      { callId: 'tool-2', tool: { name: 'save' }, input: { n: 2 }, outcome: 'pending' },
    ],
  });
  first.outcome = 'threw';
  assert.equal(lost.toolCalls[0]?.outcome, 'returned');
  assert.deepEqual(record.lost('1'), { toolCalls: [] }, 'handed out once');
  assert.deepEqual(record.lost('9'), { toolCalls: [] });
});

test('past 1 000 calls the oldest answered ones go, counted; calls that all wait are all kept', () => {
  const record = new SessionRecord(100);
  for (let n = 1; n <= 2_500; n++) record.toolCall(call('1', n)).outcome = 'returned';
  const many = record.lost('1');
  assert.equal(many.toolCallsDropped, 1_500);
  assert.deepEqual(
    many.toolCalls.map((each: ToolCallRecord) => each.callId),
    Array.from({ length: 1_000 }, (_, i) => `tool-${i + 1_501}`),
  );
  for (let n = 1; n <= 1_001; n++) record.toolCall(call('2', n));
  const waiting = record.lost('2');
  assert.equal(waiting.toolCalls.length, 1_001);
  assert.equal(waiting.toolCallsDropped, undefined);
});
