import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CellEvent } from '../src/index.js';
import { newRuntime, RecordingDelegate, texts } from './helpers.js';

const JS_TWIN = `
const pick = (items, key) => items.map((item) => item[key]);
const LEVELS = ['low', 'high'];
function greet(name, suffix) { return 'hi ' + name + (suffix ?? ''); }
text(pick([{ n: 1 }, { n: 2 }], 'n').join(','));
text(LEVELS[1]);
text(greet('ada'));
`;

const TS_TWIN = `
interface Item { n: number; label?: string }
type Key = keyof Item;
const pick = <T, K extends keyof T>(items: T[], key: K): T[K][] => items.map((item) => item[key]);
const LEVELS = ['low', 'high'] as const;
function greet(name: string, suffix?: string): string { return 'hi ' + name + (suffix ?? ''); }
text(pick<Item, 'n'>([{ n: 1 }, { n: 2 }], 'n' satisfies Key).join(','));
text(LEVELS[1]!);
text(greet('ada'));
`;

test('a TypeScript cell with an interface, generics, as const and an optional parameter matches its JavaScript twin', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const js = await (await runtime.execute({ source: JS_TWIN })).initialEvent;
  const ts = await (await runtime.execute({ source: TS_TWIN, language: 'typescript' })).initialEvent;
  assert.deepEqual(texts(ts), ['1,2', 'high', 'hi ada']);
  assert.deepEqual(texts(ts), texts(js));
  assert.equal('error' in ts, false);
});

test('an enum and a type-only error do not fail a TypeScript cell', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const event = await (
    await runtime.execute({
      source:
        'enum Color { Red, Green }\nconst wrong: number = "not a number" as unknown as number;\ntext(Color.Green); text(typeof wrong)',
      language: 'typescript',
    })
  ).initialEvent;
  assert.deepEqual(texts(event), ['1', 'string']);
});

test('a TypeScript cell that throws on line 7 reports line 7', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const source = [
    'interface A {',
    '  a: number;',
    '}',
    'type B = A & { b: string };',
    'const value: B = { a: 1, b: "x" };',
    'text(value.b);',
    'throw new Error("line seven");',
  ].join('\n');
  const event = await (await runtime.execute({ source, language: 'typescript' })).initialEvent;
  assert.equal(event.kind, 'completed');
  assert.match(event.kind === 'completed' ? (event.error ?? '') : '', /Error: line seven\n\s+at cell\.ts:7:7/);
});

test('a TypeScript syntax error reports its line and column and the session goes on', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const event = await (
    await runtime.execute({ source: 'const a: number = 1;\nconst b: string = ;', language: 'typescript' })
  ).initialEvent;
  assert.equal(event.kind, 'completed');
  assert.match(event.kind === 'completed' ? (event.error ?? '') : '', /^SyntaxError: .*\[cell\.ts:2:19\]$/);
  assert.deepEqual(
    texts(await (await runtime.execute({ source: 'text("next")', language: 'typescript' })).initialEvent),
    ['next'],
  );
});

test('a JavaScript syntax error reports its line and column', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const event = await (await runtime.execute({ source: 'text(1);\nlet x = ;' })).initialEvent;
  assert.match(event.kind === 'completed' ? (event.error ?? '') : '', /SyntaxError: .*\[cell\.js:2:9\]/);
});

test('a large cell (over 64 KiB) runs, and reports its syntax error as a small one does', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const padding = `// ${'x'.repeat(100)}\n`.repeat(1_000);
  const ran = await (await runtime.execute({ source: `${padding}text(1 + 1)` })).initialEvent;
  assert.deepEqual(texts(ran), ['2']);
  const broken = await (await runtime.execute({ source: `${padding}text(1);\nlet x = ;` })).initialEvent;
  assert.match(broken.kind === 'completed' ? (broken.error ?? '') : '', /SyntaxError: .*\[cell\.js:1002:9\]/);
  const small = await (await runtime.execute({ source: 'text(1);\nlet x = ;' })).initialEvent;
  assert.match(small.kind === 'completed' ? (small.error ?? '') : '', /SyntaxError: .*\[cell\.js:2:9\]/);
});

test("language 'auto' strips types only when the cell needs it", async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const typed = await (
    await runtime.execute({ source: 'const n: number = 2;\ntext(n * 2)', language: 'auto' })
  ).initialEvent;
  const plain = await (
    await runtime.execute({ source: 'const n = 3;\nthrow new Error("js " + n)', language: 'auto' })
  ).initialEvent;
  assert.deepEqual(texts(typed), ['4']);
  assert.match(plain.kind === 'completed' ? (plain.error ?? '') : '', /Error: js 3\n\s+at cell\.js:2:/);
});

test('the default language is auto, as for exec: TypeScript runs as is; a broken cell fails as JavaScript does', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const typed = await (await runtime.execute({ source: 'const n: number = 21;\ntext(n * 2)' })).initialEvent;
  assert.deepEqual(texts(typed), ['42']);
  // Neither JavaScript nor TypeScript: V8's own error, under cell.js, the same as with 'javascript'.
  const source = 'text(1);\nconst x: = ;';
  const errorOf = (event: CellEvent): string => (event.kind === 'completed' ? (event.error ?? '') : '');
  const broken = await (await runtime.execute({ source })).initialEvent;
  const asJs = await (await runtime.execute({ source, language: 'javascript' })).initialEvent;
  assert.match(errorOf(broken), /^SyntaxError: .*\[cell\.js:2:\d+\]$/);
  assert.equal(errorOf(broken), errorOf(asJs));
});

test('dynamic import() rejects with "Unsupported import in cell", and import( inside strings is untouched', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const event = await (
    await runtime.execute({
      source: 'try { await import("node:fs") } catch (e) { text(e.message) }\ntext("import(x) stays"); // import(y)',
    })
  ).initialEvent;
  assert.deepEqual(texts(event), ['Unsupported import in cell: node:fs', 'import(x) stays']);
});
