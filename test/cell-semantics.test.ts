// Cell semantics that follow the reference code-mode host (issue 15), run in-process and through
// codecell-host over linked streams.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CellEvent, CellStreamEvent, JsonValue } from '../src/index.js';
import { deferred, RecordingDelegate, texts, waitFor, type Deferred } from './helpers.js';
import { bothKinds } from './sessions.js';

const ECHO = [{ name: 'echo' }];
const echo = (): RecordingDelegate => new RecordingDelegate({ echo: ({ input }) => input });

async function run(
  session: {
    execute(request: {
      source: string;
      language?: 'javascript' | 'typescript';
    }): Promise<{ initialEvent: Promise<CellEvent> }>;
  },
  source: string,
  language?: 'javascript' | 'typescript',
): Promise<CellEvent> {
  const { initialEvent } = await session.execute(language === undefined ? { source } : { source, language });
  return initialEvent;
}

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

    test('a top-level return fails with a hint to use text()', async (t) => {
      const session = await kind.open(t, echo());
      const event = await run(session, 'const x = 1;\nreturn x');
      const error = event.kind === 'completed' ? (event.error ?? '') : '';
      assert.match(error, /^SyntaxError: Illegal return statement/);
      assert.match(error, /text\(/);
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

for (const kind of bothKinds) {
  describe(`${kind.name}: frontier and closing`, () => {
    test('pendingFrontier never lists calls the delegate already answered', async (t) => {
      const answers = [deferred<JsonValue>(), deferred<JsonValue>(), deferred<JsonValue>()];
      let next = 0;
      const delegate = new RecordingDelegate({ echo: () => (answers[next++] as Deferred<JsonValue>).promise });
      const session = await kind.open(t, delegate, { tools: ECHO });
      const { cellId, initialEvent } = await session.execute(
        {
          source:
            'const [a, b] = await Promise.all([tools.echo({}), tools.echo({})]); text(`${a}+${b}`); await tools.echo({})',
        },
        { kind: 'pendingFrontier' },
      );
      assert.deepEqual(await initialEvent, {
        kind: 'pending',
        cellId,
        items: [],
        pendingToolCallIds: ['tool-1', 'tool-2'],
      });
      answers[0]?.resolve(1);
      answers[1]?.resolve(2);
      const event = await session.observe(cellId, { kind: 'pendingFrontier' });
      assert.deepEqual(event, {
        kind: 'pending',
        cellId,
        items: [{ type: 'text', text: '1+2' }],
        pendingToolCallIds: ['tool-3'],
      });
    });

    test('a cell closes when its outcome is committed, even if nobody reads it; the event is kept for one read', async (t) => {
      const delegate = echo();
      const session = await kind.open(t, delegate, { tools: ECHO, limits: { maxCellsPerSession: 4 } });
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const { cellId } = await session.execute({ source: `text("cell ${i}")` }, { kind: 'yieldAfter', ms: 0 });
        ids.push(cellId);
      }
      await waitFor(() => delegate.closed.length === 4);
      assert.deepEqual(
        [...delegate.closed].sort(),
        [...ids].sort(),
        'cellClosed ran for every finished cell, read or not',
      );
      const { cellId: fifth, initialEvent } = await session.execute({ source: 'text("fifth")' });
      assert.deepEqual(texts(await initialEvent), ['fifth'], 'the finished cells freed their slots');
      const stream: CellStreamEvent[] = [];
      for await (const event of session.events(ids[0] as string)) stream.push(event);
      assert.equal(stream.at(-1)?.type, 'closed', "an unread cell's stream ends with closed");
      assert.deepEqual(await session.observe(ids[0] as string, { kind: 'yieldAfter', ms: 1000 }), {
        kind: 'completed',
        cellId: ids[0],
        items: [{ type: 'text', text: 'cell 0' }],
      });
      await assert.rejects(session.observe(ids[0] as string, { kind: 'yieldAfter', ms: 0 }), {
        code: 'ERR_MISSING_CELL',
      });
      assert.deepEqual(
        texts(await session.terminate(ids[1] as string)),
        ['cell 1'],
        'terminate takes the unread event too',
      );
      await assert.rejects(session.terminate(ids[1] as string), { code: 'ERR_MISSING_CELL' });
      await assert.rejects(
        session.observe(fifth, { kind: 'yieldAfter', ms: 0 }),
        { code: 'ERR_MISSING_CELL' },
        'a read event is gone',
      );
    });

    test('unread terminal events are bounded: the oldest are dropped and their ids forgotten', async (t) => {
      const delegate = echo();
      const session = await kind.open(t, delegate, { limits: { maxCellsPerSession: 100 } });
      const ids: string[] = [];
      // Under load a cell can print before its initial observation (yieldAfter 0) returns: the
      // text is then in that yielded event, and the terminal event has none.
      const early: (string | undefined)[] = [];
      let finishedEarly = 0;
      for (let i = 0; i < 66; i++) {
        const started = await session.execute({ source: `text(${i})` }, { kind: 'yieldAfter', ms: 0 });
        const initial = await started.initialEvent;
        // A cell that completed within its initial observation left nothing unread.
        if (initial.kind === 'completed') {
          finishedEarly++;
          continue;
        }
        ids.push(started.cellId);
        early.push(texts(initial)[0]);
      }
      await waitFor(() => delegate.closed.length === 66);
      // Cells commit in the order they finish (not always their ids' order): the two that
      // committed first were dropped, the newest 64 are kept for one read each.
      const outcomes = await Promise.all(
        ids.map((id, i) =>
          session.observe(id, { kind: 'yieldAfter', ms: 0 }).then(
            (event) => (event.kind === 'completed' && (texts(event)[0] ?? early[i]) === String(i) ? 'read' : 'wrong'),
            (error: { code?: string }) => error.code,
          ),
        ),
      );
      const unread = 66 - finishedEarly;
      assert.deepEqual(
        [outcomes.filter((o) => o === 'read').length, outcomes.filter((o) => o === 'ERR_MISSING_CELL').length],
        [Math.min(64, unread), Math.max(0, unread - 64)],
      );
      await assert.rejects(session.observe(ids[outcomes.indexOf('read')] as string, { kind: 'yieldAfter', ms: 0 }), {
        code: 'ERR_MISSING_CELL',
      });
    });
  });
}

for (const kind of bothKinds) {
  describe(`${kind.name}: shutdown races`, () => {
    test('an execute admitted as shutdown begins is refused or shut down with the rest', async (t) => {
      for (let yields = 0; yields < 6; yields++) {
        const delegate = echo();
        const session = await kind.open(t, delegate);
        const started = session.execute({
          source:
            'for (let i = 0; i < 5; i++) { notify(`n${i}`); await new Promise((resolve) => setTimeout(resolve, 20)); }',
        });
        for (let i = 0; i < yields; i++) await Promise.resolve();
        await session.shutdown();
        const settled = await started.then(
          async ({ initialEvent }) => (await initialEvent).kind,
          (error: { code?: string }) => error.code,
        );
        assert.ok(settled === 'ERR_SHUTTING_DOWN' || settled === 'terminated', `after ${yields} yields: ${settled}`);
        const seen = delegate.notifications.length;
        await new Promise((resolve) => setTimeout(resolve, 120));
        assert.equal(
          delegate.notifications.length,
          seen,
          `after ${yields} yields, no notification arrives after shutdown()`,
        );
      }
    });

    test('shutdown waits for a cellClosed already running, within the deadline', async (t) => {
      const delegate = echo();
      let finished = false;
      delegate.cellClosedHandler = async () => {
        await new Promise((resolve) => setTimeout(resolve, 40));
        finished = true;
      };
      const session = await kind.open(t, delegate);
      await run(session, 'text(1)');
      await waitFor(() => delegate.closed.length === 1);
      await session.shutdown();
      assert.equal(finished, true, 'cellClosed had returned when shutdown() resolved');
    });
  });
}
