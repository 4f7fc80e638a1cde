// Issue 55, item 3: tools with typed inputs. defineTool types `execute`'s input from a zod schema
// (Standard Schema + Standard JSON Schema) or from a JSON Schema literal; toolSource makes them a
// session's tools. The `@ts-expect-error` lines are the type tests: the build fails if a type is
// wrong (an expected error that does not happen is an error too).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { SessionBuilder } from '../host/index.js';
import { defineTool, toolSource, type CellEvent, type InputOf } from '../src/index.js';
import { capturingLogger, texts, waitFor } from './helpers.js';

const add = defineTool({
  name: 'add',
  description: 'Adds two numbers (b defaults to 10)',
  inputSchema: z.object({ a: z.number(), b: z.number().default(10) }),
  execute: ({ a, b }) => {
    // @ts-expect-error a is a number, not a string
    const wrong: string = a;
    void wrong;
    return a + b;
  },
});

const SHOUT = {
  type: 'object',
  properties: { word: { type: 'string' }, times: { type: 'integer' }, tone: { enum: ['loud', 'soft'] } },
  required: ['word'],
} as const;

type ShoutInput = InputOf<typeof SHOUT>;
const typed: ShoutInput = { word: 'hi', tone: 'loud' };
// @ts-expect-error word is required
const missing: ShoutInput = { times: 2 };
// @ts-expect-error tone is 'loud' or 'soft'
const badTone: ShoutInput = { word: 'hi', tone: 'medium' };
void [typed, missing, badTone];

const shout = defineTool({
  name: 'shout',
  inputSchema: SHOUT,
  execute: ({ word, times }) => word.toUpperCase().repeat(times ?? 1),
});

/** A check JSON Schema cannot say: only zod's own validation catches it. */
const positive = defineTool({
  name: 'positive',
  inputSchema: z.object({ n: z.number().refine((n) => n > 0, 'must be above 0') }),
  execute: ({ n }) => n,
});

let aborted: AbortSignal | undefined;
const stuck = defineTool({
  name: 'stuck',
  inputSchema: z.object({}),
  execute: (_input, { signal }) => {
    aborted = signal;
    return new Promise<undefined>(() => {});
  },
});

async function session(t: { after(fn: () => Promise<void>): void }) {
  const source = toolSource([add, shout, positive, stuck]);
  const started = await new SessionBuilder({ logger: capturingLogger() })
    .withTools(source.tools, source.delegate)
    .start();
  t.after(() => started.shutdown());
  return started;
}

describe('typed tools: defineTool and toolSource', { timeout: 60_000 }, () => {
  test('the schema’s JSON Schema goes to the session; execute gets the validated, typed input', async (t) => {
    const source = toolSource([add, shout]);
    assert.deepEqual(source.tools[0], {
      name: 'add',
      description: 'Adds two numbers (b defaults to 10)',
      inputSchema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        properties: { a: { type: 'number' }, b: { default: 10, type: 'number' } },
        required: ['a'],
      },
    });
    assert.deepEqual(source.tools[1]?.inputSchema, SHOUT);
    const cells = await session(t);
    const run = async (source: string): Promise<CellEvent> =>
      (await cells.execute({ source }, { kind: 'yieldAfter', ms: 10_000 })).initialEvent;
    // zod's default filled b in before execute ran.
    assert.deepEqual(texts(await run('text(await tools.add({ a: 2 })); text(await tools.add({ a: 2, b: 3 }))')), [
      '12',
      '5',
    ]);
    assert.deepEqual(texts(await run('text(await tools.shout({ word: "hey", times: 2 }))')), ['HEYHEY']);
  });

  test('input that does not fit fails the cell’s call with a TypeError naming where', async (t) => {
    const cells = await session(t);
    const event = await (
      await cells.execute(
        {
          source:
            'for (const call of [() => tools.add({ a: "x" }), () => tools.shout({ word: 3 }), () => tools.positive({ n: -1 })])' +
            ' { try { await call() } catch (e) { text(e.constructor.name + ": " + e.message) } }',
        },
        { kind: 'yieldAfter', ms: 10_000 },
      )
    ).initialEvent;
    // The session checks each input against the JSON Schema; zod's own validation checks the rest.
    assert.deepEqual(texts(event), [
      'TypeError: tools.add: input.a must be number',
      'TypeError: tools.shout: input.word must be string',
      'TypeError: tools.positive: input.n must be above 0',
    ]);
  });

  test('a terminated cell aborts the signal execute got', async (t) => {
    const cells = await session(t);
    const started = await cells.execute({ source: 'await tools.stuck({})' }, { kind: 'yieldAfter', ms: 0 });
    await waitFor(() => aborted !== undefined);
    await cells.terminate(started.cellId);
    await waitFor(() => aborted?.aborted === true);
  });

  test('what is not a tool, a schema or a function is refused, saying what it wants', () => {
    assert.throws(() => defineTool({ name: '', inputSchema: {}, execute: () => 1 }), /name must be a non-empty string/);
    assert.throws(
      () => defineTool({ name: 'x', inputSchema: null as never, execute: () => 1 }),
      /needs an inputSchema/,
    );
    assert.throws(
      () => defineTool({ name: 'x', inputSchema: {}, execute: 'no' as never }),
      /needs an execute function/,
    );
    assert.throws(() => toolSource([{ name: 'x' } as never]), /must come from defineTool/);
    assert.throws(() => toolSource([add, add]), /two tools are named add/);
  });
});
