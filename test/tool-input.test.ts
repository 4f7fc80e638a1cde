// SPEC §15: every path that calls a delegate checks the call's input against the tool's
// inputSchema first (unless the tool says validateInput: false), and what one session compiled is
// never used for another's schema (issue 50: ajv keyed every RE2 pattern "[object Object]").
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CodeCellSession, JsonValue, ToolDefinition } from '../src/index.js';
import { RecordingDelegate } from './helpers.js';
import { bothKinds } from './sessions.js';

const ADD: ToolDefinition = {
  name: 'add',
  inputSchema: {
    type: 'object',
    properties: { a: { type: 'number' }, b: { type: 'number' } },
    required: ['a', 'b'],
  },
};

const patterned = (name: string, pattern: string): ToolDefinition => ({
  name,
  inputSchema: { type: 'object', properties: { s: { type: 'string', pattern } }, required: ['s'] },
});

/** The texts a cell printed, after it completed. */
async function texts(session: CodeCellSession, source: string, tools?: ToolDefinition[]): Promise<string[]> {
  const started = await session.execute(tools === undefined ? { source } : { source, tools });
  const event = await started.initialEvent;
  assert.equal(event.kind, 'completed', JSON.stringify(event));
  return event.items.map((item) => (item.type === 'text' ? item.text : ''));
}

const TRY = (call: string): string =>
  `try { text(JSON.stringify(await ${call})) } catch (e) { text(e.name + ": " + e.message) }`;

for (const kind of bothKinds) {
  describe(`${kind.name}: tool input checks`, () => {
    test('a call whose input misfits the inputSchema is a TypeError naming the field; the delegate never sees it', async (t) => {
      const delegate = new RecordingDelegate({
        add: ({ input }) => (input as { a: number; b: number }).a + (input as { a: number; b: number }).b,
      });
      const session = await kind.open(t, delegate, { tools: [ADD] });
      const printed = await texts(
        session,
        [TRY('tools.add({ a: "2", b: 3 })'), TRY('tools.add({ a: 2 })'), TRY('tools.add({ a: 2, b: 3 })')].join('\n'),
      );
      assert.deepEqual(printed, [
        'TypeError: tools.add: input.a must be number',
        'TypeError: tools.add: input.b is required',
        '5',
      ]);
      assert.deepEqual(
        delegate.calls.map((call) => call.input as JsonValue),
        [{ a: 2, b: 3 }],
      );
    });

    test("validateInput: false lets a misfit through to the delegate; a cell's own tools are checked too", async (t) => {
      const delegate = new RecordingDelegate({ add: () => 'reached', loose: () => 'reached' });
      const session = await kind.open(t, delegate, { tools: [{ ...ADD, name: 'loose', validateInput: false }] });
      assert.deepEqual(await texts(session, TRY('tools.loose({ a: "x" })')), ['"reached"']);
      assert.deepEqual(await texts(session, TRY('tools.add({ a: "x", b: 1 })'), [ADD]), [
        'TypeError: tools.add: input.a must be number',
      ]);
      assert.equal(delegate.calls.length, 1);
    });

    test('validateInput must be a boolean', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      await assert.rejects(
        session.execute({ source: 'text(1)', tools: [{ name: 'x', validateInput: 'no' as never }] }),
        { code: 'ERR_INVALID_REQUEST', message: /validateInput must be a boolean/ },
      );
    });
  });
}

for (const kind of bothKinds) {
  describe(`${kind.name}: schemas never share compiled patterns`, () => {
    for (const order of ['letters first', 'digits first'] as const) {
      test(`two sessions' patterns each check their own inputs (${order})`, async (t) => {
        const letters = await kind.open(t, new RecordingDelegate({ word: () => 'ok' }), {
          tools: [patterned('word', '^[a-z]+$')],
        });
        const digits = await kind.open(t, new RecordingDelegate({ number: () => 'ok' }), {
          tools: [patterned('number', '^[0-9]+$')],
        });
        const [first, second] = order === 'letters first' ? [letters, digits] : [digits, letters];
        const call = (session: CodeCellSession, tool: string) =>
          texts(session, [TRY(`tools.${tool}({ s: "abc" })`), TRY(`tools.${tool}({ s: "123" })`)].join('\n'));
        const firstTool = first === letters ? 'word' : 'number';
        const secondTool = first === letters ? 'number' : 'word';
        const firstResults = await call(first, firstTool);
        const secondResults = await call(second, secondTool);
        const byTool = { [firstTool]: firstResults, [secondTool]: secondResults };
        assert.deepEqual(byTool.word, ['"ok"', 'TypeError: tools.word: input.s must match pattern "^[a-z]+$"']);
        assert.deepEqual(byTool.number, ['TypeError: tools.number: input.s must match pattern "^[0-9]+$"', '"ok"']);
      });
    }

    test('two tools of one session with different patterns each check their own', async (t) => {
      const session = await kind.open(t, new RecordingDelegate({ word: () => 'ok', number: () => 'ok' }), {
        tools: [patterned('word', '^[a-z]+$'), patterned('number', '^[0-9]+$')],
      });
      const printed = await texts(
        session,
        [TRY('tools.word({ s: "abc" })'), TRY('tools.number({ s: "123" })')].join('\n'),
      );
      assert.deepEqual(printed, ['"ok"', '"ok"']);
    });
  });
}
