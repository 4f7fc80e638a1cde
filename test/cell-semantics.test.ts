// Cell semantics that follow the reference code-mode host (issue 15), run in-process and through
// codecell-host over linked streams.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CellEvent, CellStreamEvent } from '../src/index.js';
import { RecordingDelegate, texts } from './helpers.js';
import { bothKinds } from './sessions.js';

const ECHO = [{ name: 'echo' }];
const echo = (): RecordingDelegate => new RecordingDelegate({ echo: ({ input }) => input });

async function run(session: { execute(request: { source: string; language?: 'javascript' | 'typescript' }): Promise<{ initialEvent: Promise<CellEvent> }> }, source: string, language?: 'javascript' | 'typescript'): Promise<CellEvent> {
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
      const { cellId, initialEvent } = await session.execute({ source: 'await tools.echo({ a: 1 }); text("one"); text("two")' }, { kind: 'yieldAfter', ms: 0 });
      await initialEvent;
      const iterator = session.events(cellId)[Symbol.asyncIterator]();
      const [first, second, third] = await Promise.all([iterator.next(), iterator.next(), iterator.next()]);
      const types = [first, second, third].map((result) => (result.done === true ? 'done' : (result.value as CellStreamEvent).type));
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
        message: "request.limits.maxCellsPerSession is a limit of the session, not of a cell: set it in the session's limits",
      });
      const event = await run(session, 'text(1)');
      assert.deepEqual(texts(event), ['1'], 'the session still works');
    });
  });
}
