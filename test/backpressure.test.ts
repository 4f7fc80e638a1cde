// Issue 30: codecell-host honours backpressure. A client that stops reading its output leaves at
// most a bounded amount waiting in the host; past the bound the host gives the connection up and
// shuts its sessions down (it used to pile 245 MiB into its output stream).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { streamWriter } from '../host/wire/framing.js';
import { createHost } from '../host/index.js';
import { capturingLogger, waitFor } from './helpers.js';
import { frame } from './wire.js';

test('the frame writer waits for drain once its output needs draining, and keeps the order', async () => {
  const output = new PassThrough({ highWaterMark: 1024 });
  const writer = streamWriter(output, { lost: () => {} }, { maxQueuedBytes: 1024 * 1024 });
  const body = 'x'.repeat(600);
  for (let i = 0; i < 50; i++) writer.push(`${i}:${body}`);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(
    output.writableLength <= 64 * 1024,
    `the stream holds ${output.writableLength} bytes: the writer waited for drain`,
  );
  assert.ok(writer.queuedBytes > 20_000, 'the rest waits in the writer');
  let read = '';
  output.on('data', (chunk: Buffer) => (read += chunk.toString('utf8')));
  // Read as it drains: every message arrives (a condition, not a clock: a slow machine takes longer).
  await waitFor(() => read.includes('\r\n\r\n49:'));
  const order = [...read.matchAll(/\r\n\r\n(\d+):/g)].map((match) => Number(match[1]));
  assert.deepEqual(
    order,
    Array.from({ length: 50 }, (_, i) => i),
  );
});

test('large messages written in one turn are bounded too: past the bound the writer gives its output up', async () => {
  const output = new PassThrough({ highWaterMark: 16 * 1024 }); // nobody reads it
  const overflows: Error[] = [];
  const hooks = { lost: () => {}, overflow: (error: Error) => void overflows.push(error) };
  const writer = streamWriter(output, hooks, { maxQueuedBytes: 1024 * 1024 });
  const body = 'y'.repeat(512 * 1024);
  for (let i = 0; i < 4; i++) writer.push(body);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(overflows.length, 1, 'the writer gave its output up');
  assert.ok(output.destroyed);
  assert.ok(output.writableLength < 2 * 1024 * 1024, `${output.writableLength} bytes waited in the output`);
});

test('with maxStallMs, a peer that takes nothing of what waits is given up; one that reads now and then is not', async () => {
  const given: Error[] = [];
  const hooks = { lost: () => {}, overflow: (error: Error) => void given.push(error) };
  const stalled = new PassThrough({ highWaterMark: 1024 }); // nobody reads it
  const slow = new PassThrough({ highWaterMark: 1024 });
  const stalledWriter = streamWriter(stalled, hooks, { maxStallMs: 1000 });
  const slowWriter = streamWriter(
    slow,
    { lost: () => {}, overflow: (error) => assert.fail(error) },
    { maxStallMs: 1000 },
  );
  const body = 'z'.repeat(1000);
  for (let i = 0; i < 300; i++) {
    stalledWriter.push(body);
    slowWriter.push(body);
  }
  // The other peer reads what reached it every 100 ms: far behind, never given up.
  let taken = 0;
  const reading = setInterval(() => {
    const chunk = slow.read() as Buffer | null;
    if (chunk !== null) taken += chunk.length;
  }, 100);
  try {
    await waitFor(() => given.length === 1);
    assert.match(
      given[0]!.message,
      /^the peer read nothing for 1000 ms while \d+ bytes waited; the connection is given up$/,
    );
    assert.ok(stalled.destroyed);
    await waitFor(() => taken >= 300 * 1000);
    assert.equal(slow.destroyed, false, 'the peer that reads kept its connection');
  } finally {
    clearInterval(reading);
  }
});

test('a client that stops reading: the host holds at most its bound, then gives the connection up and shuts its sessions down', async (t) => {
  const toHost = new PassThrough();
  const fromHost = new PassThrough({ highWaterMark: 16 * 1024 }); // nobody reads it
  const logger = capturingLogger();
  const host = createHost({ input: toHost, output: fromHost, logger, maxQueuedBytes: 1024 * 1024 });
  t.after(() => {
    toHost.end();
    return host.closed;
  });
  const send = (id: number, method: string, params: unknown): void =>
    void toHost.write(frame(JSON.stringify({ jsonrpc: '2.0', id, method, params })));
  send(1, 'initialize', { protocolVersion: 2 });
  send(2, 'session/create', {});
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Each cell's initial event carries 512 KiB of output; the client reads none of it.
  for (let i = 0; i < 8; i++)
    send(10 + i, 'cell/execute', { sessionId: '1', request: { source: 'text("y".repeat(512 * 1024))' } });
  const closed = await Promise.race([
    host.closed.then(() => true),
    new Promise((resolve) => setTimeout(() => resolve(false), 10_000)),
  ]);
  assert.equal(closed, true, 'the host gave the connection up');
  assert.ok(fromHost.writableLength < 2 * 1024 * 1024, `${fromHost.writableLength} bytes waited in the host's output`);
  assert.ok(
    logger.warnings.some((warning) => /bytes unread, over the 1048576-byte bound/.test(warning)),
    logger.warnings.join('\n'),
  );
});

test('a lone message is written without a write callback (no next tick per write); written() still waits for it', async () => {
  let read = '';
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      read += chunk.toString('utf8');
      callback();
    },
  });
  const writer = streamWriter(output, { lost: () => {} });
  const nextTick = process.nextTick;
  let ticks = 0;
  process.nextTick = ((...args: Parameters<typeof nextTick>) => {
    ticks++;
    nextTick(...args);
  }) as typeof nextTick;
  try {
    writer.push('{"a":1}');
  } finally {
    process.nextTick = nextTick;
  }
  assert.equal(ticks, 0, 'the write asked for no next tick');
  writer.push('{"b":2}');
  await writer.written();
  await waitFor(() => read.includes('{"b":2}'));
  assert.equal(read, 'Content-Length: 7\r\n\r\n{"a":1}Content-Length: 7\r\n\r\n{"b":2}');
});

test('a writer reports its output lost whether or not anyone waits: a closed stream, a reader gone (EPIPE)', async (t) => {
  const closed = new PassThrough();
  closed.destroy();
  const lost: Error[] = [];
  streamWriter(closed, { lost: (error) => void lost.push(error) }).push('{}');
  assert.deepEqual(
    lost.map((error) => error.message),
    ['the output stream is closed'],
  );

  // A child that closes its input and stays: the pipe's reader is gone, the stream still open.
  const child = spawn(
    process.execPath,
    ['-e', "require('fs').closeSync(0); process.stdout.write('closed'); setTimeout(() => {}, 60_000)"],
    {
      stdio: ['pipe', 'pipe', 'ignore'],
    },
  );
  t.after(() => void child.kill('SIGKILL'));
  await once(child.stdout, 'data');
  const gone: Error[] = [];
  const writer = streamWriter(child.stdin, { lost: (error) => void gone.push(error) });
  // Written until the pipe says its reader is gone (a condition, not a clock).
  await waitFor(() => {
    writer.push('{"ping":true}');
    return gone.length > 0;
  });
  assert.equal(gone.length, 1, 'lost once');
  assert.equal((gone[0] as NodeJS.ErrnoException).code, 'EPIPE');
});
