import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString, getHeapStatistics } from 'node:v8';
import { spawn, spawnSync } from 'node:child_process';
import { isolatesInUseCount } from '../../src/isolate/teardown.js';
import { fileURLToPath } from 'node:url';
import { HostClient } from '../../host/index.js';
import { SessionRuntime, type CodeCellError } from '../../src/index.js';
import { capturingLogger, hang, ms, RecordingDelegate, texts, waitFor } from '../helpers.js';
import { RawClient } from '../wire.js';
import { HOST_BIN } from '../sessions.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return getHeapStatistics().used_heap_size;
}

test('delegates that throw, hang or return junk never take the runtime down', async (t) => {
  const junk: Record<string, () => unknown> = {
    throws: () => {
      throw new TypeError('synchronous failure');
    },
    rejectsWithString: () => Promise.reject('just a string'),
    symbol: () => Promise.resolve(Symbol('s')),
    nothing: () => Promise.resolve(undefined),
    hangs: () => hang(),
  };
  const runtime = new SessionRuntime(
    {
      invokeTool: (call) => junk[call.tool.name]?.() as never,
      notify: () => {
        throw new Error('notify is broken');
      },
      cellClosed: () => {
        throw new Error('cellClosed is broken');
      },
    },
    { tools: Object.keys(junk).map((name) => ({ name })), callbackAbortDeadlineMs: 30, logger: capturingLogger() },
  );
  t.after(() => runtime.shutdown());
  const event = await (
    await runtime.execute({
      source:
        'notify("n"); for (const name of ["throws", "rejectsWithString", "symbol", "nothing"]) { try { text(name + ": " + JSON.stringify(await tools[name]())) } catch (e) { text(name + ": " + e.message) } } tools.hangs(); text("end")',
    })
  ).initialEvent;
  assert.deepEqual(texts(event), [
    'throws: synchronous failure',
    'rejectsWithString: just a string',
    'symbol: tools.symbol returned a value that is not JSON: a symbol is not a JSON value',
    'nothing: undefined',
    'end',
    'Warning: 1 tool call(s) were still running when the cell finished: tool-5',
  ]);
  assert.deepEqual(texts(await (await runtime.execute({ source: 'text("serving")' })).initialEvent), ['serving']);
});

test('a client that disappears mid-call makes the host shut its sessions down and exit 0', async (t) => {
  const child = spawn(HOST_BIN, [], { stdio: ['pipe', 'pipe', 'ignore'] });
  t.after(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const raw = new RawClient(child.stdout, child.stdin);
  await raw.call('initialize', { protocolVersion: 2 });
  const { sessionId } = (await raw.call('session/create', { tools: [{ name: 'slow' }] })).result as {
    sessionId: string;
  };
  // The first cell waits on a tool call this client never answers; the second spins.
  const waiting = await raw.call('cell/execute', {
    sessionId,
    request: { source: 'await tools.slow({})' },
    observe: { kind: 'pendingFrontier' },
  });
  await raw.log.next((message) => message.method === 'tool/invoke');
  const spinning = await raw.call('cell/execute', {
    sessionId,
    request: { source: 'while (true) {}' },
    observe: { kind: 'yieldAfter', ms: 0 },
  });
  const cellIds = [waiting, spinning].map((message) => (message.result as { cellId: string }).cellId);
  const start = performance.now();
  child.stdin.end();
  assert.equal(await exited, 0);
  assert.ok(ms(start) < 5_000, `the host took ${ms(start).toFixed(0)} ms to exit`);
  const closed = raw.log.messages
    .filter((m) => m.method === 'cell/closed')
    .map((m) => (m.params as { cellId: string }).cellId);
  assert.deepEqual(closed.sort(), [...cellIds].sort());
});

test('1000 cells created and terminated leave no live isolates and no heap growth', async (t) => {
  const runtime = new SessionRuntime(new RecordingDelegate(), { logger: capturingLogger() });
  t.after(() => runtime.shutdown());
  const run = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const { cellId, initialEvent } = await runtime.execute(
        { source: i % 2 === 0 ? 'while (true) {}' : 'text(1); await new Promise(r => setTimeout(r, 60_000))' },
        { kind: 'yieldAfter', ms: 0 },
      );
      await initialEvent;
      assert.equal((await runtime.terminate(cellId)).kind, 'terminated');
    }
  };
  // Isolates are counted per process: wait until the earlier tests of this file released theirs.
  await waitFor(() => isolatesInUseCount() === 0);
  await run(50);
  await waitFor(() => isolatesInUseCount() === 0);
  const before = await settledHeap();
  await run(1000);
  await waitFor(() => isolatesInUseCount() === 0);
  const after = await settledHeap();
  await runtime.shutdown();
  const growth = after - before;
  assert.ok(growth < 8 * 1024 * 1024, `heap grew by ${(growth / 1024 / 1024).toFixed(1)} MiB over 1000 cells`);
});

test('a host whose input closes in the middle of a frame lets its process exit', () => {
  const script = `
    import { PassThrough } from 'node:stream';
    import { createHost } from ${JSON.stringify(new URL('../../host/index.js', import.meta.url).href)};
    const toHost = new PassThrough();
    const host = createHost({ input: toHost, output: new PassThrough().resume(), logger: { warn() {}, error() {} } });
    toHost.write('Content-Length: 100\\r\\n\\r\\n{"jsonrpc":"2.0",');
    setTimeout(() => toHost.end(), 50);
    await host.closed;
    console.log('closed');
  `;
  const result = spawnSync(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(result.signal, null, 'the process did not exit on its own');
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, 'closed\n');
});

test('the host killed with 300 requests in flight: every call fails with ERR_HOST_EXITED and the agent process never crashes', () => {
  const fixture = new URL('../fixtures/host-dies.js', import.meta.url).pathname;
  for (const inFlight of [300, 20]) {
    const result = spawnSync(process.execPath, ['--no-node-snapshot', fixture, String(inFlight)], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(result.status, 0, `${inFlight} in flight: ${result.stdout}${result.stderr}`);
    const counts = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;
    assert.deepEqual(
      Object.keys(counts).filter((outcome) => outcome !== 'ERR_HOST_EXITED' && outcome !== 'completed'),
      [],
      result.stdout,
    );
  }
});

test('a host whose input closes right after terminating a cell stuck in a long built-in exits 0', async (t) => {
  const child = spawn(HOST_BIN, [], { stdio: ['pipe', 'pipe', 'ignore'] });
  t.after(() => child.kill('SIGKILL'));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const raw = new RawClient(child.stdout, child.stdin);
  await raw.call('initialize', { protocolVersion: 2 });
  const { sessionId } = (await raw.call('session/create', {})).result as { sessionId: string };
  const source =
    'const a = Array.from({ length: 1_000_000 }, (_, i) => String(1_000_000 - i)); yield_control(); a.sort(); a.sort()';
  const { cellId } = (
    await raw.call('cell/execute', { sessionId, request: { source }, observe: { kind: 'yieldAfter', ms: 60_000 } })
  ).result as { cellId: string };
  await raw.log.next((m) => m.method === 'cell/initialEvent');
  await raw.call('cell/terminate', { sessionId, cellId });
  child.stdin.end();
  assert.deepEqual(await exited, { code: 0, signal: null });
});

test("the host's reaction to a catastrophic isolate error, on every Node: SIGKILL at once, ERR_HOST_EXITED for every pending call, a fresh host next", async (t) => {
  const fixture = fileURLToPath(new URL('../fixtures/catastrophic-host.js', import.meta.url));
  const client = await HostClient.spawn({
    command: process.execPath,
    args: ['--no-node-snapshot', fixture],
    processes: 1,
    // The host's own death, seen by calls: not moved elsewhere (rehome.test.ts).
    rehome: false,
    stderr: 'pipe',
    logger: capturingLogger(),
  });
  t.after(() => client.close());
  const session = await client.createSession(new RecordingDelegate({ slow: hang }), { tools: [{ name: 'slow' }] });
  const pending = await session.execute({ source: 'await tools.slow({})' }, { kind: 'yieldAfter', ms: 30_000 });
  const doomed = client.pid as number;
  const start = performance.now();
  process.kill(doomed, 'SIGUSR2');
  await assert.rejects(
    pending.initialEvent,
    (error: CodeCellError) => error.code === 'ERR_HOST_EXITED' && /signal SIGKILL/.test(error.message),
  );
  assert.ok(performance.now() - start < 2_000, 'at once');
  assert.equal(session.isAlive, false);
  const fresh = await client.createSession(new RecordingDelegate());
  assert.notEqual(client.pid, doomed);
  assert.deepEqual(texts(await (await fresh.execute({ source: 'text("fresh")' })).initialEvent), ['fresh']);
});
