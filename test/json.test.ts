// toJsonText: what a delegate's value may be, and the fast path for values read from the wire
// (ParsedJson), which keeps nothing once the value is gone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ParsedJson, toJsonText } from '../src/json.js';

setFlagsFromString('--expose-gc');

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

test('a value read from the wire (ParsedJson) is encoded as is, unwrapped; the mark goes with the value', () => {
  const parsed = JSON.parse('{"a":[1,{"b":"c"}],"d":null}') as Record<string, unknown>;
  assert.equal(toJsonText(new ParsedJson(parsed as never)), '{"a":[1,{"b":"c"}],"d":null}');
  assert.equal(toJsonText(new ParsedJson(undefined)), '');
  // The mark is the wrapper, not the object: the same object handed over bare is checked as before.
  parsed.late = () => 1;
  assert.throws(() => toJsonText(parsed), { name: 'TypeError', message: /function/ });
});

test('nothing of a parsed value is kept by the module once its wrapper is gone', async () => {
  let collected = false;
  const registry = new FinalizationRegistry(() => (collected = true));
  (() => {
    const value = JSON.parse('{"big":"' + 'x'.repeat(1_000_000) + '"}') as Record<string, unknown>;
    registry.register(value, 'value');
    toJsonText(new ParsedJson(value as never));
  })();
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 50 && !collected; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(collected, true);
});
