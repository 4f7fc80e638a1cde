// Cell semantics that follow the reference code-mode host (issue 15), run in-process and through
// codecell-host over linked streams.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CellStreamEvent } from '../src/index.js';
import { RecordingDelegate, texts } from './helpers.js';
import { bothKinds } from './sessions.js';
import { ECHO, echo, run } from './cell-helpers.js';

for (const kind of bothKinds) {
  describe(kind.name, () => {
    test('export is allowed in a cell (and ignored), in JavaScript and TypeScript', async (t) => {
      const session = await kind.open(t, echo());
      const cases: [string, 'javascript' | 'typescript'][] = [
        ['export const a = 1; text(a + 1)', 'javascript'],
        ['export default 42; text("ok")', 'javascript'],
        ['export {}; text("ok")', 'javascript'],
        ['const b = 2; export { b }; text(b)', 'javascript'],
        ['export function f() { return 3 } text(f())', 'javascript'],
        ['export default function g() { return 4 } text(g())', 'javascript'],
        ['export default class {}; export class C { x = 5 } text(new C().x)', 'javascript'],
        ['export default async () => 1; export async function h() { return 6 } text(await h())', 'javascript'],
        ['export {};\nconst n: number = 7;\ntext(n)', 'typescript'],
        ['export interface P { x: number }\nexport const p: P = { x: 8 };\ntext(p.x)', 'typescript'],
      ];
      for (const [source, language] of cases) {
        const event = await run(session, source, language);
        assert.equal(event.kind, 'completed', source);
        assert.equal(event.kind === 'completed' ? event.error : undefined, undefined, source);
        assert.equal(texts(event).length, 1, source);
      }
      const reexport = await run(session, "export * from 'fs'; text('no')");
      assert.equal(reexport.kind === 'completed' ? reexport.error : '', 'Unsupported import in cell: fs');
      const named = await run(session, "export { readFile } from 'node:fs'");
      assert.equal(named.kind === 'completed' ? named.error : '', 'Unsupported import in cell: node:fs');
    });

    test('a thrown error after an export keeps its line number', async (t) => {
      const session = await kind.open(t, echo());
      const event = await run(session, 'export const a = 1;\n\nthrow new Error("line 3")');
      assert.match(event.kind === 'completed' ? (event.error ?? '') : '', /line 3[\s\S]*cell\.js:3/);
    });

    test("an error's stack keeps V8's async frames: where the awaited call was", async (t) => {
      const session = await kind.open(t, echo(), { tools: ECHO });
      const thrown = await run(
        session,
        'async function f() {\n  await null;\n  throw new Error("in f");\n}\nawait f();',
      );
      assert.equal(
        thrown.kind === 'completed' ? thrown.error : '',
        'Error: in f\n    at f (cell.js:3:9)\n    at async cell.js:5:1',
      );
      // Also after a tool call, and inside a cell that left a rejection unhandled earlier on.
      const nested = await run(
        session,
        'async function g() {\n  await tools.echo({});\n  throw new Error("in g");\n}\nasync function f() {\n  await g();\n}\nawait f();',
      );
      assert.equal(
        nested.kind === 'completed' ? nested.error : '',
        'Error: in g\n    at g (cell.js:3:9)\n    at async f (cell.js:6:3)\n    at async cell.js:8:1',
      );
    });

    test('a rejection handled in a later task is still no error once async frames are kept', async (t) => {
      const session = await kind.open(t, echo(), { tools: ECHO });
      const source =
        'const p = Promise.reject(new Error("late"));\nawait new Promise((r) => setTimeout(r, 20));\n' +
        'try { await p } catch (e) { text("caught " + e.message) }';
      const event = await run(session, source);
      assert.equal(event.kind, 'completed');
      assert.equal(event.kind === 'completed' ? event.error : 'x', undefined);
      assert.deepEqual(texts(event), ['caught late']);
    });

    test('a top-level return ends the cell: its value is its result, and a text item with its JSON', async (t) => {
      const session = await kind.open(t, echo(), { tools: ECHO });
      const cases: [string, string[], unknown][] = [
        ['text("first");\nconst r = await tools.echo({ a: 1 });\nreturn r', ['first', '{"a":1}'], { a: 1 }],
        ['if (true) { return "done" }\ntext("never")', ['"done"'], 'done'],
        ['const n: number = 6;\nreturn n * 7', ['42'], 42],
        ['text("nothing to return");\nreturn', ['nothing to return'], undefined],
        ['return () => 1', ['() => 1'], undefined], // no JSON: shown as text() shows it, no result
        ['function f() { return 1 }\ntext(String(f()))', ['1'], undefined],
      ];
      for (const [source, expected, result] of cases) {
        const event = await run(session, source);
        const completed = event.kind === 'completed' ? event : undefined;
        assert.deepEqual(
          [
            event.kind,
            texts(event),
            completed?.error,
            completed?.result,
            completed !== undefined && 'result' in completed,
          ],
          ['completed', expected, undefined, result, result !== undefined],
          source,
        );
      }
    });

    test('a cell that returns keeps its line numbers, and its own syntax errors', async (t) => {
      const session = await kind.open(t, echo());
      const thrown = await run(session, 'text(1);\nif (true) throw new Error("boom");\nreturn 2');
      assert.match(thrown.kind === 'completed' ? (thrown.error ?? '') : '', /^Error: boom\n\s+at cell\.js:2:17$/);
      const broken = await run(session, 'const a = 1;\nreturn a +;');
      assert.match(
        broken.kind === 'completed' ? (broken.error ?? '') : '',
        /^SyntaxError: Unexpected token ';' \[cell\.js:2:/,
      );
      const imported = await run(session, 'import x from "y";\nreturn x');
      assert.match(imported.kind === 'completed' ? (imported.error ?? '') : '', /^SyntaxError: .* \[cell\.js:1:\d+\]$/);
    });
  });
}

for (const kind of bothKinds) {
  describe(`${kind.name}: streams`, () => {
    test('concurrent next() calls on a cell stream all settle, in order', async (t) => {
      const session = await kind.open(t, echo(), { tools: ECHO });
      const { cellId, initialEvent } = await session.execute(
        { source: 'await tools.echo({ a: 1 }); text("one"); text("two")' },
        { kind: 'yieldAfter', ms: 0 },
      );
      await initialEvent;
      const iterator = session.events(cellId)[Symbol.asyncIterator]();
      const [first, second, third] = await Promise.all([iterator.next(), iterator.next(), iterator.next()]);
      const types = [first, second, third].map((result) =>
        result.done === true ? 'done' : (result.value as CellStreamEvent).type,
      );
      assert.deepEqual(types, ['toolCall', 'toolResult', 'output']);
      await iterator.return?.();
    });
  });
}

for (const kind of bothKinds) {
  describe(`${kind.name}: limits`, () => {
    test('a cell cannot override a limit of the session (maxCellsPerSession)', async (t) => {
      const session = await kind.open(t, echo(), { tools: ECHO, limits: { maxCellsPerSession: 2 } });
      await assert.rejects(session.execute({ source: 'text(1)', limits: { maxCellsPerSession: 7 } }), {
        code: 'ERR_INVALID_REQUEST',
        message:
          "request.limits.maxCellsPerSession is a limit of the session, not of a cell: set it in the session's limits",
      });
      const event = await run(session, 'text(1)');
      assert.deepEqual(texts(event), ['1'], 'the session still works');
    });
  });
}

/** Expressions whose console.log output in a cell must equal Node's (util.inspect, no colors). */
const INSPECTED = [
  `{ a: 1, b: 'x', c: [1, 2, 3] }`,
  `{ a: { b: { c: { d: 1 } } } }`,
  `{ a: { b: { c: {} } } }`,
  `[[1, [2, [3, [4]]]]]`,
  `[1, 2, 3, 4, 5, 6, 7]`,
  `Array.from({ length: 30 }, (_, i) => i * 7)`,
  `Array.from({ length: 130 }, (_, i) => i)`,
  `['apple', 'banana', 'cherry', 'date', 'elder', 'fig', 'grape']`,
  `{ x: 'a'.repeat(70) }`,
  `new Map([['a', 1], ['b', { c: 2 }]])`,
  `new Set([1, 'two', [3]])`,
  `new Map()`,
  `(() => { const o = { name: 'x' }; o.self = o; return o; })()`,
  `(() => { const a = [1]; a.push({ back: a }); return a; })()`,
  `{ s: Symbol('q'), b: 10n, f() {}, g: class G {}, d: new Date(0), r: /x/g, n: null, u: undefined, neg: -0 }`,
  `[, 1, , , 2]`,
  `Object.create(null)`,
  `new (class Foo { constructor() { this.x = 1; } })()`,
  `{ 'a-b': 1, 'ok_$': 2 }`,
  `["it's", 'say "hi"', 'line\\nbreak']`,
  `[async () => {}, function* gen() {}, function () {}]`,
  `new Uint8Array([1, 2, 3])`,
  `{ nested: { list: [{ a: 1 }, { b: [1, 2] }], map: new Map([[1, new Set([2])]]) } }`,
  `Object.assign(function named() {}, { extra: 1 })`,
];

for (const kind of bothKinds) {
  describe(`${kind.name}: printing`, () => {
    test('console.log formats values as Node does', async (t) => {
      const { inspect } = await import('node:util');
      const session = await kind.open(t, echo());
      for (const expression of INSPECTED) {
        const event = await run(session, `console.log(${expression})`);
        const expected = inspect(new Function(`return (${expression})`)() as unknown);
        assert.deepEqual(texts(event), [expected], expression);
      }
      const printf = await run(
        session,
        `console.log('%s has %d items (%i%%) %j %o', 'list', 3.5, 42.9, { a: 1 }, [1])`,
      );
      assert.deepEqual(texts(printf), [`list has 3.5 items (42%) {"a":1} [ 1 ]`]);
      // Symbol keys print as Node 24 and later print them (Node 22 put them in brackets).
      assert.deepEqual(texts(await run(session, `console.log({ [Symbol('k')]: 2 })`)), ['{ Symbol(k): 2 }']);
    });

    test('console.log of an error prints its stack; text() of a cyclic or BigInt-holding object is readable', async (t) => {
      const session = await kind.open(t, echo());
      const error = texts(await run(session, 'console.log(new RangeError("bad"))'))[0] ?? '';
      assert.match(error, /^RangeError: bad\n\s+at /);
      const cyclic = await run(session, 'const o = { a: 1 }; o.self = o; text(o); text({ big: 10n, list: [1n] })');
      assert.deepEqual(texts(cyclic), ['<ref *1> { a: 1, self: [Circular *1] }', '{ big: 10n, list: [ 1n ] }']);
    });

    test('image() takes MCP image blocks as servers send them: mimeType or mime_type, detail in _meta', async (t) => {
      const session = await kind.open(t, echo());
      const event = await run(
        session,
        [
          'image({ type: "image", data: "AAAA", mimeType: "image/png" })',
          'image({ type: "image", data: "BBBB", mime_type: "image/jpeg" })',
          'image({ type: "image", data: "CCCC", mimeType: "image/png", _meta: { "codex/imageDetail": "original" } })',
          'image({ type: "image", data: "DDDD", mimeType: "image/png", _meta: { "codex/imageDetail": "low" } }, "auto")',
        ].join('\n'),
      );
      assert.equal(event.kind === 'completed' ? event.error : 'not completed', undefined);
      assert.deepEqual(event.items, [
        { type: 'image', imageUrl: 'data:image/png;base64,AAAA', detail: 'high' },
        { type: 'image', imageUrl: 'data:image/jpeg;base64,BBBB', detail: 'high' },
        { type: 'image', imageUrl: 'data:image/png;base64,CCCC', detail: 'original' },
        { type: 'image', imageUrl: 'data:image/png;base64,DDDD', detail: 'auto' },
      ]);
    });
  });
}

for (const kind of bothKinds) {
  describe(`${kind.name}: completion`, () => {
    test('output queued by microtasks before the cell finished is kept', async (t) => {
      const session = await kind.open(t, echo());
      const event = await run(session, 'Promise.resolve().then(() => text("micro")); text("done")');
      assert.deepEqual(texts(event), ['done', 'micro']);
      const forEach = await run(session, '[1, 2, 3].forEach(async (n) => { await null; text(`item ${n}`) })');
      assert.deepEqual(texts(forEach), ['item 1', 'item 2', 'item 3']);
      const chained = await run(
        session,
        'let p = Promise.resolve(); for (let i = 0; i < 50; i++) p = p.then(() => i); p.then((i) => text(`last ${i}`))',
      );
      assert.deepEqual(texts(chained), ['last 49']);
    });

    test('timers and unawaited tool calls still do not keep a cell alive', async (t) => {
      const session = await kind.open(t, echo(), { tools: ECHO });
      const event = await run(session, 'setTimeout(() => text("late"), 50); text("done")');
      assert.deepEqual(texts(event), ['done']);
    });

    test('the dangling-call warning does not depend on how fast the delegate answers', async (t) => {
      const fast = new RecordingDelegate({ echo: ({ input }) => input });
      const slow = new RecordingDelegate({
        echo: async ({ input }) => {
          await new Promise((resolve) => setImmediate(resolve));
          return input;
        },
      });
      for (const delegate of [fast, slow]) {
        const session = await kind.open(t, delegate, { tools: ECHO });
        for (let round = 0; round < 10; round++) {
          const { cellId, initialEvent } = await session.execute({ source: 'tools.echo({ x: 1 }); text("done")' });
          const stream = session.events(cellId);
          const event = await initialEvent;
          const warning = 'Warning: 1 tool call(s) were still running when the cell finished: tool-1';
          assert.deepEqual(texts(event), ['done', warning]);
          const outputs: string[] = [];
          for await (const streamed of stream)
            if (streamed.type === 'output' && streamed.item.type === 'text') outputs.push(streamed.item.text);
          assert.deepEqual(outputs, ['done', warning], 'the warning is on the event stream too');
        }
      }
    });

    test('the dangling-call warning counts against maxOutputBytes', async (t) => {
      const session = await kind.open(t, echo(), { tools: ECHO, limits: { maxOutputBytes: 20 } });
      const event = await run(session, 'tools.echo({ x: 1 }); text("done")');
      assert.equal(event.kind, 'terminated');
      assert.equal(event.kind === 'terminated' ? event.reason : '', 'outputLimit');
    });
  });
}
