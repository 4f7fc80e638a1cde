// Hardening v4: a served host is bounded as a whole. Its cells' isolates share one memory budget
// (each reserves its memoryMb + 40 MiB while it lives) over every connection; past it cells and
// new sessions are refused with ERR_LIMIT_EXCEEDED, "go elsewhere".
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HostClient } from '../host/index.js';
import { listen } from '../host/server/listen.js';
import type { CodeCellError } from '../src/index.js';
import { capturingLogger } from './helpers.js';
import { echo } from './network-helpers.js';

describe('codecell-host --listen: the memory budget', { timeout: 60_000 }, () => {
  test('the host as a whole is bounded by its memory budget, over every connection; a freed cell makes room', async (t) => {
    // Each 8 MiB cell reserves 8 + 40 MiB: two fit in 100, a third does not, whichever connection asks.
    const service = await listen({ host: '127.0.0.1', port: 0, memoryBudgetMb: 100, logger: capturingLogger() });
    t.after(() => service.close());
    const first = await HostClient.connect({ hosts: [service.url] });
    t.after(() => first.close());
    const second = await HostClient.connect({ hosts: [service.url] });
    t.after(() => second.close());
    const a = await first.createSession(echo(), { limits: { memoryMb: 8 } });
    const b = await second.createSession(echo(), { limits: { memoryMb: 8 } });
    const hold = { source: 'await new Promise(() => {})' };
    const held = await a.execute(hold, { kind: 'yieldAfter', ms: 0 });
    await b.execute(hold, { kind: 'yieldAfter', ms: 0 });
    await assert.rejects(
      b.execute({ source: 'text(1)' }),
      (error: CodeCellError) => error.code === 'ERR_LIMIT_EXCEEDED' && /memory budget/.test(error.message),
    );
    // A new session goes elsewhere while no cell of it would fit.
    await assert.rejects(second.createSession(echo(), { limits: { memoryMb: 8 } }), (error: CodeCellError) =>
      ['ERR_LIMIT_EXCEEDED', 'ERR_HOST_EXITED'].includes(error.code),
    );
    await a.terminate(held.cellId);
    let ran: string | undefined;
    for (let i = 0; i < 100 && ran === undefined; i++) {
      try {
        const cell = await b.execute({ source: 'text("room again")' });
        ran = (await cell.readText()).trim();
      } catch (error) {
        assert.equal((error as CodeCellError).code, 'ERR_LIMIT_EXCEEDED');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    assert.equal(ran, 'room again');
  });
});
