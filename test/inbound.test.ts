// Hardening v4: what a peer sends never piles up in the host (each message is handled as it is
// read), and one answer per request id holds under any interleaving.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { frame, RawClient, rawHost } from './wire.js';

const HOST_MAIN = fileURLToPath(new URL('../host/bin/codecell-host.js', import.meta.url));

/** Peak resident set of a process (VmHWM), in MiB. */
function peakRssMb(pid: number): number {
  const line = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(line?.[1]) / 1024;
}

test('a request that reuses an id in flight is refused, also a third time, and the first still gets its answer', async (t) => {
  const raw = await rawHost(t);
  await raw.call('initialize', { protocolVersion: 2 });
  const created = await raw.call('session/create', {});
  const sessionId = (created.result as { sessionId: string }).sessionId;
  const executed = await raw.call('cell/execute', {
    sessionId,
    request: { source: 'await new Promise((resolve) => setTimeout(resolve, 60_000))' },
    observe: { kind: 'yieldAfter', ms: 0 },
  });
  const cellId = (executed.result as { cellId: string }).cellId;
  const observe = (id: string) =>
    raw.write(
      frame(
        JSON.stringify({
          jsonrpc: '2.0',
          id,
          method: 'cell/observe',
          params: { sessionId, cellId, mode: { kind: 'yieldAfter', ms: 300 } },
        }),
      ),
    );
  observe('same');
  observe('same');
  observe('same');
  const answers = async (count: number) => {
    await raw.log.next(() => raw.log.messages.filter((message) => message.id === 'same').length >= count);
    return raw.log.messages.filter((message) => message.id === 'same');
  };
  const [second, third] = await answers(2);
  assert.equal(second?.error?.code, -32600);
  assert.match(second?.error?.message ?? '', /request id "same" is already in flight/);
  assert.equal(third?.error?.code, -32600, "the refusal of the second must not free the first one's id");
  const first = (await answers(3))[2];
  assert.equal((first?.result as { kind?: string } | undefined)?.kind, 'yielded');
  await raw.call('session/shutdown', { sessionId });
});

test('a peer that floods notifications is handled as it is read, not queued: the host stays small and still answers', async (t) => {
  const child = spawn(process.execPath, ['--no-node-snapshot', '--max-semi-space-size=2', HOST_MAIN], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => {
    child.kill('SIGKILL');
  });
  const raw = new RawClient(child.stdout, child.stdin);
  await raw.call('initialize', { protocolVersion: 2 });
  const before = peakRssMb(child.pid as number);
  // ~80 MB of notifications, written as fast as the pipe takes them.
  const notification = frame(
    JSON.stringify({
      jsonrpc: '2.0',
      method: 'cell/noSubscriber',
      params: { sessionId: 's', cellId: '1', pad: 'x'.repeat(100) },
    }),
  );
  const batch = Buffer.concat(Array.from({ length: 1_000 }, () => notification));
  for (let i = 0; i < 500; i++) if (!child.stdin.write(batch)) await once(child.stdin, 'drain');
  const ping = await raw.call('host/ping', {});
  assert.ok(ping.result !== undefined, JSON.stringify(ping));
  const grown = peakRssMb(child.pid as number) - before;
  // Unbounded, the parsed messages waiting for dispatch grew the host by hundreds of MiB.
  assert.ok(grown < 120, `the host's peak RSS grew by ${grown.toFixed(0)} MiB`);
});
