// Issue 20: misbehaving delegates, hostile cells and broken peers never crash or hang anything.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RecordingDelegate, texts, waitFor } from '../helpers.js';
import { bothKinds } from '../sessions.js';

// Hardening, continued from hardening.test.ts: a host that half-closed, and import() in code built at run time.

describe('a host that closed its output but stayed alive', () => {
  test('is killed by its pid, not left running as an orphan', async (t) => {
    const { HostClient } = await import('../../host/index.js');
    const { capturingLogger, processAlive } = await import('../helpers.js');
    const fixture = new URL('../fixtures/half-closed-host.js', import.meta.url).pathname;
    const client = await HostClient.spawn({ command: process.execPath, args: [fixture], logger: capturingLogger() });
    t.after(() => client.close());
    const pid = client.pid ?? 0;
    await waitFor(() => !processAlive(pid), 5_000);
    assert.equal(client.isConnected, false);
  });
});

for (const kind of bothKinds) {
  describe(`${kind.name}: import() in code built at run time`, () => {
    test('eval, new Function and the async function constructor refuse import() with the cell message', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const source = [
        'for (const run of [() => eval("import(\'fs\')"), () => new Function("return import(\'os\')")(), () => (async () => {}).constructor("return await import(\'net\')")()]) {',
        '  try { await run(); text("imported") } catch (e) { text(e.message) }',
        '}',
        'text(new Function("a", "b", "return a + b")(1, 2))',
      ].join('\n');
      const event = await (await session.execute({ source })).initialEvent;
      assert.deepEqual(texts(event), [
        'Unsupported import in cell: fs',
        'Unsupported import in cell: os',
        'Unsupported import in cell: net',
        '3',
      ]);
    });
  });
}
