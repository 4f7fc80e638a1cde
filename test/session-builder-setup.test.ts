// SessionBuilder.withSetup keeps one contract in-process and on codecell-host (issue 30): start()
// resolves at the setup cell's first pending frontier or terminal event, and start({ signal })
// abandons it (the session is shut down).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SessionBuilder } from '../host/index.js';
import { capturingLogger, ms } from './helpers.js';
import { builderKinds } from './sessions.js';

const waiting = { invokeTool: () => new Promise<never>(() => {}) };

for (const kind of builderKinds) {
  describe(`SessionBuilder ${kind.name}: the setup cell`, () => {
    test('a setup cell that waits on a tool: start() resolves at its first pending frontier', async (t) => {
      const start = performance.now();
      const session = await new SessionBuilder(await kind.options(t))
        .withTools([{ name: 'wait' }], waiting)
        .withSetup('text("set up"); await tools.wait({})')
        .start();
      t.after(() => session.shutdown());
      assert.ok(ms(start) < 5_000, `start() took ${ms(start)} ms`);
      assert.deepEqual(session.setupEvent, {
        kind: 'pending',
        cellId: session.setupEvent?.cellId,
        items: [{ type: 'text', text: 'set up' }],
        pendingToolCallIds: ['tool-1'],
      });
    });

    test('start({ signal }) aborted while the setup cell runs rejects with the reason, promptly, and shuts the session down', async (t) => {
      const controller = new AbortController();
      const start = performance.now();
      const starting = new SessionBuilder(await kind.options(t))
        .withSetup('while (true) {}')
        .start({ signal: controller.signal });
      setTimeout(() => controller.abort(new Error('the agent gave up')), 300);
      await assert.rejects(starting, { message: 'the agent gave up' });
      assert.ok(ms(start) < 5_000, `start() took ${ms(start)} ms to give up`);
    });
  });
}

// Issue 30: a tool's inputSchema comes from a source the cell's author does not control (an
// upstream MCP server); its patterns must not stall the process.
describe('SessionBuilder: tool input patterns run in linear time', () => {
  const tool = (name: string, pattern: string) => ({
    name,
    inputSchema: { type: 'object', properties: { s: { type: 'string', pattern } }, required: ['s'] },
  });
  const echo = { invokeTool: async ({ input }: { input: unknown }) => (input as { s: string }).s };

  test('a nested quantifier against a long near-match is refused at once, and a match passes', async (t) => {
    const session = await new SessionBuilder({ logger: capturingLogger() })
      .withTools([tool('nested', '^(a+)+$')], echo)
      .start();
    t.after(() => session.shutdown());
    const start = performance.now();
    const cell = await session.execute({
      source:
        'try { await tools.nested({ s: "a".repeat(34) + "!" }) } catch (e) { text(e.name + ": " + e.message) }\ntext(await tools.nested({ s: "aaa" }))',
    });
    const event = await cell.initialEvent;
    assert.ok(ms(start) < 10_000, `the check took ${ms(start)} ms`);
    assert.deepEqual(
      event.items.map((item) => (item.type === 'text' ? item.text : '')),
      ['TypeError: tools.nested: input.s must match pattern "^(a+)+$"', 'aaa'],
    );
  });

  test("a pattern RE2 cannot run fails that tool's calls with a clear error, not the session", async (t) => {
    const logger = capturingLogger();
    const session = await new SessionBuilder({ logger })
      .withTools([tool('backref', '^(a)\\1$'), { name: 'plain' }], { invokeTool: async () => 'ok' })
      .start();
    t.after(() => session.shutdown());
    const event = await (
      await session.execute({
        source:
          'try { await tools.backref({ s: "aa" }) } catch (e) { text(e.name + ": " + e.message) }\ntext(await tools.plain({}))',
      })
    ).initialEvent;
    const [refused, plain] = event.items.map((item) => (item.type === 'text' ? item.text : ''));
    assert.match(
      refused ?? '',
      /^TypeError: tools\.backref: its inputSchema pattern "\^\(a\)\\\\1\$" is not supported by codecell's linear-time pattern engine .*validateInput: false/,
    );
    assert.equal(plain, 'ok');
    assert.equal(logger.warnings.length, 1);
  });
});
