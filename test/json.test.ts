// toJsonText: what a delegate's value may be, and the fast path for values read from the wire.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromParsedJson, toJsonText } from '../src/json.js';

test('toJsonText refuses what JSON.stringify would drop or mangle, at any depth', () => {
  assert.throws(() => toJsonText({ a: [1, { f: () => 1 }] }), { name: 'TypeError', message: /function/ });
  assert.throws(() => toJsonText({ n: 1n }), { name: 'TypeError', message: /bigint/ });
  assert.throws(() => toJsonText([Symbol('s')]), { name: 'TypeError', message: /symbol/ });
  assert.throws(() => toJsonText(() => 1), { name: 'TypeError' });
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assert.throws(() => toJsonText(cycle), TypeError);
});

test('toJsonText encodes primitives and plain values as JSON.stringify does; undefined as nothing', () => {
  for (const value of [null, 'a "quoted" line\n', 0, -1.5, Number.NaN, true, { a: [1, 'b', null] }, [{}]])
    assert.equal(toJsonText(value), JSON.stringify(value));
  assert.equal(toJsonText(undefined), '');
});

test('a value marked as parsed JSON is encoded the same; an unmarked one is still checked', () => {
  const parsed = fromParsedJson(JSON.parse('{"a":[1,{"b":"c"}],"d":null}') as Record<string, unknown>);
  assert.equal(toJsonText(parsed), '{"a":[1,{"b":"c"}],"d":null}');
  assert.equal(fromParsedJson(7), 7);
  assert.equal(fromParsedJson(null), null);
  // The mark is per object: the same shape built in code is checked as before.
  assert.throws(() => toJsonText({ a: [1, { b: () => 'c' }] }), TypeError);
  // A marked value is not walked again (which is why it must not change after it was parsed).
  parsed.late = () => 1;
  assert.equal(toJsonText(parsed), '{"a":[1,{"b":"c"}],"d":null}');
});

test('a marked value is recognised among the 32 marked last; one pushed out is checked again, and encoded the same', () => {
  const first = fromParsedJson(JSON.parse('{"first":[1]}') as Record<string, unknown>);
  for (let i = 0; i < 32; i++) fromParsedJson(JSON.parse(`{"i":${i}}`));
  // Pushed out of the marks: a function added late is refused again, as for any unmarked value.
  first.late = () => 1;
  assert.throws(() => toJsonText(first), { name: 'TypeError', message: /function/ });
  delete first.late;
  assert.equal(toJsonText(first), '{"first":[1]}');
  // The newest marks still hold.
  const last = fromParsedJson(JSON.parse('{"last":true}') as Record<string, unknown>);
  last.late = () => 1;
  assert.equal(toJsonText(last), '{"last":true}');
});
