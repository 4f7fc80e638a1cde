// The lean wire (frames written whole, batched per turn) and the pool of host processes behind
// one HostClient (issue 17).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { HostClient } from '../host/index.js';
import { FramedReader, streamWriter } from '../host/wire/framing.js';
import { capturingLogger, processAlive, RecordingDelegate, texts, waitFor } from './helpers.js';
import { HOST_BIN } from './sessions.js';

/** A writable that records each write it is given. */
function recordingOutput(): Writable & { writes: string[] } {
  const writes: string[] = [];
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString('utf8'));
      done();
    },
  });
  return Object.assign(output, { writes });
}

test('messages of one turn leave together, but a lone message after a lone turn leaves at once; frames read back in order', async () => {
  const output = recordingOutput();
  const writer = streamWriter(output, { lost: (error) => assert.fail(error) });
  const write = (message: object): Promise<void> => {
    writer.push(JSON.stringify(message));
    return writer.written();
  };
  // The writer's last turn wrote nothing: the first message leaves at once, the rest at the turn's end.
  const sent = [1, 2, 3].map((id) => write({ jsonrpc: '2.0', id, result: { text: 'é'.repeat(id) } }));
  assert.equal(output.writes.length, 1, 'the first message of the turn left at once');
  await Promise.all(sent);
  assert.equal(output.writes.length, 2, 'the rest of the turn in one write');
  // After a turn of several messages, a message waits for the end of its turn (a batch may follow).
  const later = write({ jsonrpc: '2.0', method: 'later' });
  assert.equal(output.writes.length, 2, 'after a batch, the next message waits for the turn to end');
  await later;
  assert.equal(output.writes.length, 3, 'a message of a later turn leaves in its own write');
  // Two callbacks of one phase of the loop (immediates queued together run in the same check
  // phase), each followed by its own microtasks, as the calls out of an isolate arrive. After a
  // lone message the first leaves at once, the second at the end of the turn.
  const oneAtATime = (ids: number[]) =>
    ids.map((id) => new Promise((resolve) => setImmediate(() => resolve(write({ jsonrpc: '2.0', id })))));
  await Promise.all(await Promise.all(oneAtATime([3, 4])));
  assert.equal(output.writes.length, 5, 'after a lone message: the first at once, the next at the end of the turn');
  // After that turn of two, the messages of one turn leave together again.
  await Promise.all(await Promise.all(oneAtATime([5, 6])));
  assert.equal(output.writes.length, 6, 'after a turn of several, the messages of one turn leave in one write');
  assert.deepEqual(
    output.writes.map((write) => write.split('Content-Length').length - 1),
    [1, 2, 1, 1, 1, 2],
    'each write holds whole frames',
  );

  const input = new PassThrough();
  const read: unknown[] = [];
  new FramedReader(input, {
    body: (text) => void read.push(JSON.parse(text)),
    malformed: (reason) => assert.fail(reason),
  });
  for (const write of output.writes) input.write(write);
  assert.deepEqual(
    read,
    [1, 2, 3]
      .map((id) => ({ jsonrpc: '2.0', id, result: { text: 'é'.repeat(id) } }))
      .concat([
        { jsonrpc: '2.0', method: 'later' },
        { jsonrpc: '2.0', id: 3 },
        { jsonrpc: '2.0', id: 4 },
        { jsonrpc: '2.0', id: 5 },
        { jsonrpc: '2.0', id: 6 },
      ] as never[]),
  );
});

test('frames split anywhere, with other headers or junk between them, are each read once, in order', () => {
  const bodies = ['{"a":1}', '{"b":"é"}', '{"c":3}', '{"d":4}', '{"e":5}'];
  const frame = (body: string, header = '') => `${header}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const stream = Buffer.from(
    frame(bodies[0] as string) +
      frame(bodies[1] as string) +
      frame(bodies[2] as string, 'Content-Type: application/json\r\n') +
      'junk without a header\r\n\r\n' +
      frame(bodies[3] as string) +
      frame(bodies[4] as string),
  );
  // Every way of cutting the stream in two, and byte by byte.
  const cuts = [...Array.from({ length: stream.length + 1 }, (_, at) => [at]), 'bytes'] as const;
  for (const cut of cuts) {
    const input = new PassThrough();
    const read: string[] = [];
    const malformed: string[] = [];
    new FramedReader(input, {
      body: (text) => void read.push(text),
      malformed: (reason) => void malformed.push(reason),
    });
    const chunks =
      cut === 'bytes'
        ? Array.from(stream, (byte) => Buffer.from([byte]))
        : [stream.subarray(0, cut[0]), stream.subarray(cut[0])];
    for (const chunk of chunks) if (chunk.length > 0) input.write(chunk);
    assert.deepEqual(read, bodies, `cut ${String(cut)}`);
    assert.ok(malformed.length > 0, `cut ${String(cut)}: the junk is reported`);
  }
});

test('a Content-Length header reads the same whether it is the usual one or not', () => {
  const read = (stream: string): { bodies: string[]; malformed: number } => {
    const input = new PassThrough();
    const bodies: string[] = [];
    let malformed = 0;
    new FramedReader(input, { body: (text) => void bodies.push(text), malformed: () => void malformed++ });
    input.write(Buffer.from(stream));
    return { bodies, malformed };
  };
  const ok = { bodies: ['{"a":1}'], malformed: 0 };
  assert.deepEqual(read('Content-Length: 7\r\n\r\n{"a":1}'), ok);
  assert.deepEqual(read('Content-Length: 0007\r\n\r\n{"a":1}'), ok);
  assert.deepEqual(read('Content-Length:7\r\n\r\n{"a":1}'), ok);
  assert.deepEqual(read('Content-Length: 7 \r\n\r\n{"a":1}'), ok);
  assert.deepEqual(read('content-length: 7\r\n\r\n{"a":1}'), ok);
  // Past the 256 MiB bound, with 9 digits and with 10: refused, and the next frame still read.
  for (const length of ['300000000', '3000000000'])
    assert.deepEqual(read(`Content-Length: ${length}\r\n\r\nContent-Length: 7\r\n\r\n{"a":1}`), {
      bodies: ['{"a":1}'],
      malformed: 1,
    });
  assert.deepEqual(read('Content-Length: 7x\r\n\r\nContent-Length: 7\r\n\r\n{"a":1}'), {
    bodies: ['{"a":1}'],
    malformed: 1,
  });
});

test('a writer whose pipe broke reports it once and never throws', async () => {
  const output = new Writable({
    write: (_chunk, _encoding, done) => done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })),
  });
  const lost: Error[] = [];
  const writer = streamWriter(output, { lost: (error) => lost.push(error) });
  writer.push('{"jsonrpc":"2.0","method":"a"}');
  await writer.written();
  writer.push('{"jsonrpc":"2.0","method":"b"}');
  await writer.written();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(lost.length, 1);
  assert.match(lost[0]?.message ?? '', /EPIPE/);
});

test('push() sends a lone message at once and the rest of its turn together; written() waits only for what is unwritten', async () => {
  const chunks: string[] = [];
  const output = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      chunks.push(chunk.toString());
      done();
    },
  });
  const writer = streamWriter(output, { lost: () => {} });
  await writer.written();
  writer.push('{"a":1}');
  assert.equal(chunks.length, 1, 'a lone message leaves at once');
  writer.push('{"b":2}');
  writer.push('{"c":3}');
  assert.equal(chunks.length, 1, 'the rest of the turn waits for its end');
  await writer.written();
  assert.deepEqual(chunks, [
    'Content-Length: 7\r\n\r\n{"a":1}',
    'Content-Length: 7\r\n\r\n{"b":2}Content-Length: 7\r\n\r\n{"c":3}',
  ]);
  // After that turn of two, a message waits for its turn's end, unless it is sent `now` (with
  // what waits before it): a shutdown's request leaves before the work that follows it.
  writer.push('{"d":4}');
  assert.equal(chunks.length, 2, 'after a busy turn, the next message waits');
  writer.push('{"e":5}', true);
  assert.equal(chunks.length, 3, 'now: it leaves at once');
  assert.equal(chunks[2], 'Content-Length: 7\r\n\r\n{"d":4}Content-Length: 7\r\n\r\n{"e":5}');
  await writer.written();
  assert.equal(chunks.length, 3, 'nothing was left behind');
});

test('HostClient.spawn({ processes: 2 }) starts one host, a second as sessions need it, spreads sessions over both; a dead host takes only its own sessions and is replaced', async (t) => {
  const client = await HostClient.spawn({
    command: HOST_BIN,
    args: [],
    processes: 2,
    // Sessions end with their host here (rehome.test.ts moves them).
    rehome: false,
    logger: capturingLogger(),
    stderr: 'ignore',
  });
  t.after(() => client.close());
  assert.equal(client.pids.length, 1, 'one process up front');
  assert.equal(client.isConnected, true, 'a process not needed yet is no lost host');
  const delegate = new RecordingDelegate();
  const first = await client.createSession(delegate);
  assert.equal(client.pids.length, 1, 'the first session goes to the process that is up');
  const sessions = [first, ...(await Promise.all([2, 3, 4].map(() => client.createSession(delegate))))];
  assert.equal(client.pids.length, 2, 'the second process started as sessions needed it');
  const byHost = new Map<number | undefined, typeof sessions>();
  for (const session of sessions) byHost.set(session.hostPid, [...(byHost.get(session.hostPid) ?? []), session]);
  assert.deepEqual([...byHost.keys()].sort(), [...client.pids].sort(), 'sessions on both hosts');
  assert.deepEqual(
    [...byHost.values()].map((group) => group.length),
    [2, 2],
    'two sessions each',
  );

  const [doomedPid, survivorPid] = client.pids as [number, number];
  const doomed = byHost.get(doomedPid) ?? [];
  const running = await Promise.all(
    doomed.map(async (session) => {
      const { cellId, initialEvent } = await session.execute(
        { source: 'await new Promise(() => {})' },
        { kind: 'yieldAfter', ms: 0 },
      );
      assert.equal((await initialEvent).kind, 'yielded');
      return cellId;
    }),
  );
  const waits = doomed.map((session, i) => session.observe(running[i] ?? '', { kind: 'yieldAfter', ms: 60_000 }));
  process.kill(doomedPid, 'SIGKILL');
  for (const wait of waits) await assert.rejects(wait, { code: 'ERR_HOST_EXITED' });
  for (const session of byHost.get(survivorPid) ?? []) {
    assert.deepEqual(texts(await (await session.execute({ source: 'text("still here")' })).initialEvent), [
      'still here',
    ]);
  }
  const fresh = await client.createSession(delegate);
  assert.notEqual(fresh.hostPid, doomedPid);
  assert.notEqual(
    fresh.hostPid,
    survivorPid,
    'the new session went to the replacement host (it had the fewest sessions)',
  );
  assert.deepEqual(texts(await (await fresh.execute({ source: 'text("fresh")' })).initialEvent), ['fresh']);
  assert.equal(client.pids.length, 2);
});

test('a host command that cannot start rejects spawn at once, saying why', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'codecell-spawn-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const notExecutable = join(dir, 'host.js');
  writeFileSync(notExecutable, '#!/usr/bin/env node\n', { mode: 0o644 });
  for (const [command, why] of [
    [notExecutable, /codecell-host failed to start: spawn .*host\.js EACCES/],
    [join(dir, 'missing'), /codecell-host failed to start: spawn .*missing ENOENT/],
  ] as const) {
    const started = performance.now();
    await assert.rejects(HostClient.spawn({ command, args: [], logger: capturingLogger() }), (error: unknown) => {
      assert.equal((error as { code?: unknown }).code, 'ERR_HOST_EXITED');
      assert.match((error as Error).message, why);
      return true;
    });
    // Not the 5 s a started host is given to exit after its input closed.
    assert.ok(performance.now() - started < 4_000, `${command} took ${performance.now() - started} ms`);
  }
});

test('processes must be a positive integer', async () => {
  await assert.rejects(HostClient.spawn({ processes: 0 }), { code: 'ERR_INVALID_REQUEST' });
  await assert.rejects(HostClient.spawn({ processes: 1.5 }), { code: 'ERR_INVALID_REQUEST' });
});

test('a HostClient.spawn() left idle without close() lets Node exit once no cell runs, and its host exits with it', async (t) => {
  // Two sessions left open, no close(): one idle, one whose cell still runs after the script's
  // last line (yielded at once) — Node waits for that cell (it calls a tool at its end), then exits.
  const script = `
    const { HostClient } = await import(${JSON.stringify(new URL('../host/index.js', import.meta.url).href)});
    const client = await HostClient.spawn({ processes: 1, command: ${JSON.stringify(HOST_BIN)}, args: [] });
    const delegate = { invokeTool: async (call) => (console.log('tool ' + call.tool.name), 1), notify: async () => {} };
    const idle = await client.createSession(delegate);
    await (await idle.execute({ source: 'text(6 * 7)' })).initialEvent;
    const running = await client.createSession(delegate, { tools: [{ name: 'done' }] });
    const late = 'await new Promise((r) => setTimeout(r, 1500)); await tools.done({})';
    await (await running.execute({ source: late }, { kind: 'yieldAfter', ms: 0 })).initialEvent;
    console.log(client.hosts[0].host); // then nothing: no close()
  `;
  const child = spawn(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let printed = '';
  child.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString('utf8')));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, 'the process ended on its own');
  assert.match(printed, /^tool done$/m, 'not before the running cell ended');
  // Its host's goodbye (its client left) is no warning.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.doesNotMatch(stderr, /stopped reading/);
  const pid = Number(/^process (\d+)$/m.exec(printed)?.[1]);
  assert.ok(pid > 0, printed);
  await waitFor(() => !processAlive(pid), 10_000);
});
