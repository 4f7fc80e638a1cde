import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeSandboxMessage, TO_HOST } from '../src/isolate/sandbox-protocol.js';

test('well-formed sandbox messages decode to their kind and arguments', () => {
  assert.deepEqual(decodeSandboxMessage(['text', 'hi', undefined, undefined]), ['text', 'hi']);
  assert.deepEqual(decodeSandboxMessage(['image', 'data:image/png;base64,AA', 'low', undefined]), [
    'image',
    'data:image/png;base64,AA',
    'low',
  ]);
  assert.deepEqual(decodeSandboxMessage(['tool', 'tool-1', 0, '{}']), ['tool', 'tool-1', 0, '{}']);
  assert.deepEqual(decodeSandboxMessage(['done', 'tool-1,tool-2']), ['done', 'tool-1,tool-2']);
  assert.deepEqual(decodeSandboxMessage(['timer', 3, 10]), ['timer', 3, 10]);
  assert.deepEqual(decodeSandboxMessage(['yield', 'extra', 1, true]), ['yield'], 'extra arguments are dropped');
  assert.deepEqual(decodeSandboxMessage(['fault', 'Error: x', '']), ['fault', 'Error: x', '']);
});

test('malformed sandbox messages decode to nothing', () => {
  const malformed: unknown[][] = [
    [],
    [undefined],
    [42, 'hi'],
    ['nope', 'hi'],
    ['toString'],
    ['__proto__', 'x'],
    ['constructor'],
    ['text'],
    ['text', 42],
    ['text', { toString: () => 'x' }],
    ['image', 'data:,', 'huge'],
    ['image', 'data:,', 'HIGH'],
    ['image', 'data:,'],
    ['tool', 'tool-1', '0', '{}'],
    ['tool', 'tool-1', 0],
    ['tool', 1, 0, '{}'],
    ['store', 'key'],
    ['fault', new Error('x')],
    ['fault', 'Error: x'],
    ['done'],
    ['timer', 1, '10'],
    ['timer', '1', 10],
    ['clearTimer', null],
  ];
  for (const message of malformed)
    assert.equal(decodeSandboxMessage(message), undefined, JSON.stringify(message) ?? String(message));
});

test('every kind of the table decodes with arguments of its shape', () => {
  const sample = { string: 's', number: 1, boolean: true } as const;
  for (const [kind, shape] of Object.entries(TO_HOST)) {
    const args = shape.map((expected) => (typeof expected === 'string' ? sample[expected] : expected[0]));
    assert.deepEqual(decodeSandboxMessage([kind, ...args]), [kind, ...args], kind);
  }
});
