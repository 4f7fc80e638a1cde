// SPEC §5: floating rejections are judged when the cell finishes, and a dangling tool call is
// judged once. Run in-process and through HostClient.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CellEvent, CodeCellSession } from '../src/index.js';
import { RecordingDelegate, texts } from './helpers.js';
import { bothKinds } from './sessions.js';

const ECHO = [{ name: 'echo' }];
const SLEEP = 'const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));\n';

async function run(session: CodeCellSession, source: string): Promise<CellEvent> {
  return (await session.execute({ source })).initialEvent;
}

const errorOf = (event: CellEvent): string | undefined =>
  event.kind === 'completed' ? event.error : `not completed: ${event.kind}`;

for (const kind of bothKinds) {
  describe(`${kind.name}: floating rejections`, () => {
    test('a rejection handled in a later task is no error', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const event = await run(
        session,
        `${SLEEP}const p = Promise.reject(new Error("late")); await sleep(50); text("between"); try { await p } catch (e) { text("caught " + e.message) }`,
      );
      assert.deepEqual([errorOf(event), texts(event)], [undefined, ['between', 'caught late']]);
    });

    test('.catch, .then and Promise.all count as handlers, also after a tool call', async (t) => {
      const session = await kind.open(t, new RecordingDelegate({ echo: ({ input }) => input }), { tools: ECHO });
      const event = await run(
        session,
        `${SLEEP}const a = Promise.reject(new Error("a")), b = Promise.reject(new Error("b")), c = Promise.reject(new Error("c"));
await sleep(20); a.catch(() => text("a")); await tools.echo({}); await b.then(() => {}, () => text("b")); await Promise.all([c]).catch(() => text("c"))`,
      );
      assert.deepEqual([errorOf(event), texts(event)], [undefined, ['a', 'b', 'c']]);
    });

    test('a rejection still unhandled when the cell finishes is one warning with its location, not an error', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const event = await run(session, 'Promise.reject(new Error("x")); text("end")');
      assert.deepEqual(
        [errorOf(event), texts(event)],
        [undefined, ['end', 'Warning: unhandled rejection: Error: x (cell.js:1:16)']],
      );
      const background = await run(
        session,
        `${SLEEP}(async () => { await sleep(10); throw new Error("bg") })(); await sleep(300)`,
      );
      assert.deepEqual(
        [errorOf(background), texts(background)],
        [undefined, ['Warning: unhandled rejection: Error: bg (cell.js:2:39)']],
      );
      // One per task: isolated-vm ends a task with the first rejection it left unhandled.
      const two = await run(session, `${SLEEP}Promise.reject(7); await sleep(5); Promise.reject("s")`);
      assert.deepEqual(texts(two), ['Warning: unhandled rejection: 7', 'Warning: unhandled rejection: s']);
    });

    test('the warning follows the dangling-call warning and is on the event stream too', async (t) => {
      const session = await kind.open(t, new RecordingDelegate({ echo: () => new Promise(() => {}) }), { tools: ECHO });
      const { cellId, initialEvent } = await session.execute({
        source: 'tools.echo({}); Promise.reject(new Error("x"))',
      });
      const stream = session.events(cellId);
      const expected = [
        'Warning: 1 tool call(s) were still running when the cell finished: tool-1',
        'Warning: unhandled rejection: Error: x (cell.js:1:32)',
      ];
      assert.deepEqual(texts(await initialEvent), expected);
      const streamed: string[] = [];
      for await (const event of stream)
        if (event.type === 'output' && event.item.type === 'text') streamed.push(event.item.text);
      assert.deepEqual(streamed, expected);
    });

    test('a failed cell keeps its error and still reports what it left unhandled; exit() reports nothing', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const failed = await run(session, 'Promise.reject(new Error("a")); throw new Error("b")');
      assert.match(errorOf(failed) ?? '', /^Error: b/);
      assert.deepEqual(texts(failed), ['Warning: unhandled rejection: Error: a (cell.js:1:16)']);
      const exited = await run(session, 'Promise.resolve().then(() => exit()); text("a")');
      assert.deepEqual([errorOf(exited), texts(exited)], [undefined, ['a']]);
    });
  });

  describe(`${kind.name}: a dangling call is judged once`, () => {
    test('a result that arrives after the module settled runs nothing: warning, and no output of its own', async (t) => {
      const session = await kind.open(t, new RecordingDelegate({ echo: ({ input }) => input }), { tools: ECHO });
      for (let round = 0; round < 20; round++) {
        const event = await run(
          session,
          'tools.echo({}).then(() => text("late")); setTimeout(() => text("timer"), 0); text("done")',
        );
        assert.deepEqual(
          texts(event),
          ['done', 'Warning: 1 tool call(s) were still running when the cell finished: tool-1'],
          `round ${round}`,
        );
      }
    });

    test('a call whose result the cell received before it finished keeps its output and no warning', async (t) => {
      const session = await kind.open(t, new RecordingDelegate({ echo: ({ input }) => input }), { tools: ECHO });
      const event = await run(
        session,
        'const p = tools.echo({ n: 1 }).then((r) => text(`got ${r.n}`)); await p; text("done")',
      );
      assert.deepEqual(texts(event), ['got 1', 'done']);
    });
  });
}
