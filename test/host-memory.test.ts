// SPEC §8: a long-lived host plateaus. One codecell-host process runs 2 000 cells (1 KB of output
// and a tool call each); past its warm-up (the first 1 000) its RSS may not grow with the number of
// cells it ran. (The bench measures the slope over 5 000 cells; this failed at +25 MiB before.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { HostClient } from '../host/index.js';
import { capturingLogger } from './helpers.js';

const rssMiB = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

test(
  'a codecell-host that ran 2 000 cells holds no more memory than after its first 1 000',
  { skip: process.platform !== 'linux' && 'reads /proc' },
  async (t) => {
    const client = await HostClient.spawn({ processes: 1, stderr: 'ignore', logger: capturingLogger() });
    t.after(() => client.close());
    const pid = client.pid ?? 0;
    assert.match(
      readFileSync(`/proc/${pid}/cmdline`, 'utf8'),
      /--max-semi-space-size=2/,
      'the host runs with its Node flags',
    );
    const session = await client.createSession(
      { invokeTool: async () => ({ ok: 1 }), notify: async () => {} },
      { tools: [{ name: 'u' }] },
    );
    let at1000 = 0;
    for (let i = 1; i <= 2_000; i++) {
      const event = await (await session.execute({ source: 'text("x".repeat(1000)); await tools.u({})' })).initialEvent;
      assert.equal(event.kind, 'completed');
      if (i === 1_000) at1000 = rssMiB(pid);
    }
    const growth = rssMiB(pid) - at1000;
    assert.ok(growth < 8, `RSS grew ${growth.toFixed(1)} MiB from cell 1 000 to 2 000`);
  },
);
