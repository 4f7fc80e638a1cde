// SessionBuilder.withSetup keeps one contract in-process and on codecell-host (issue 30): start()
// resolves at the setup cell's first pending frontier or terminal event, and start({ signal })
// abandons it (the session is shut down).
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { SessionBuilder, type SessionBuilderOptions } from '../host/index.js';
import { connectInProcess } from '../host/in-process.js';
import { capturingLogger, ms } from './helpers.js';

const kinds: { name: string; options(t: TestContext): Promise<SessionBuilderOptions> }[] = [
  { name: 'in-process', options: async () => ({ logger: capturingLogger() }) },
  {
    name: 'on codecell-host',
    options: async (t) => {
      const linked = await connectInProcess({ logger: capturingLogger() });
      t.after(() => linked.close());
      return { host: linked.client, logger: capturingLogger() };
    },
  },
];

const waiting = { invokeTool: () => new Promise<never>(() => {}) };

for (const kind of kinds) {
  describe(`SessionBuilder ${kind.name}: the setup cell`, () => {
    test('a setup cell that waits on a tool: start() resolves at its first pending frontier', async (t) => {
      const start = performance.now();
      const session = await new SessionBuilder(await kind.options(t)).withTools([{ name: 'wait' }], waiting).withSetup('text("set up"); await tools.wait({})').start();
      t.after(() => session.shutdown());
      assert.ok(ms(start) < 5_000, `start() took ${ms(start)} ms`);
      assert.deepEqual(session.setupEvent, { kind: 'pending', cellId: session.setupEvent?.cellId, items: [{ type: 'text', text: 'set up' }], pendingToolCallIds: ['tool-1'] });
    });

    test('start({ signal }) aborted while the setup cell runs rejects with the reason, promptly, and shuts the session down', async (t) => {
      const controller = new AbortController();
      const start = performance.now();
      const starting = new SessionBuilder(await kind.options(t)).withSetup('while (true) {}').start({ signal: controller.signal });
      setTimeout(() => controller.abort(new Error('the agent gave up')), 300);
      await assert.rejects(starting, { message: 'the agent gave up' });
      assert.ok(ms(start) < 5_000, `start() took ${ms(start)} ms to give up`);
    });
  });
}
