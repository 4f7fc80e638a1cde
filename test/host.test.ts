import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { HostClient } from '../host/index.js';
import { connectInProcess } from '../host/in-process.js';
import type { CellStreamEvent } from '../src/index.js';
import { capturingLogger, hang, ms, RecordingDelegate, texts, waitFor } from './helpers.js';
import { HOST_BIN } from './sessions.js';
import { frame, RawClient, rawHost, WireLog } from './wire.js';

test('setupSource: the setup cell id is known at once, its calls reach the delegate, and createSession resolves at its first frontier', async (t) => {
  const linked = await connectInProcess({ logger: capturingLogger() });
  t.after(() => linked.close());
  const wire = new WireLog(linked.fromHost);
  const delegate = new RecordingDelegate({ lookup: () => ({ answer: 42 }) });
  const session = await linked.client.createSession(delegate, {
    tools: [{ name: 'lookup' }],
    setupSource: 'const r = await tools.lookup({q: "x"}); notify("found " + r.answer); await new Promise(() => {})',
  });
  assert.equal(session.setupEvent?.kind, 'pending');
  const created = wire.messages.find(
    (message) => (message.result as { sessionId?: string } | undefined)?.sessionId === session.sessionId,
  );
  assert.deepEqual(created?.result, {
    sessionId: session.sessionId,
    setupCellId: session.setupCellId,
    callbackAbortDeadlineMs: 100,
    load: { sessions: 1, cellsRunning: 1, accepting: true },
    maxToolResultBytes: 4_194_304,
    maxStoredBytes: 4_194_304,
  });
  await waitFor(() => delegate.notifications.length === 1);
  assert.deepEqual(delegate.log, ['tool:tool-1', 'notify:found 42']);
  assert.equal(delegate.calls[0]?.cellId, session.setupCellId);
});

test('a setup cell that notifies completes promptly, and one that never reaches a frontier is bounded and abortable', async (t) => {
  const linked = await connectInProcess({ logger: capturingLogger() });
  t.after(() => linked.close());
  const start = performance.now();
  const ready = await linked.client.createSession(new RecordingDelegate(), { setupSource: 'notify("ready")' });
  assert.equal(ready.setupEvent?.kind, 'completed');
  // Not after the default yield (10 s).
  assert.ok(ms(start) < 8_000, `createSession took ${ms(start)} ms`);
  await assert.rejects(
    linked.client.createSession(new RecordingDelegate(), { setupSource: 'while (true) {}', setupTimeoutMs: 100 }),
    { code: 'ERR_SETUP_TIMEOUT', message: 'the setup cell did not reach a frontier within 100 ms' },
  );
  const controller = new AbortController();
  const abandoned = linked.client.createSession(new RecordingDelegate(), {
    setupSource: 'while (true) {}',
    signal: controller.signal,
  });
  setTimeout(() => controller.abort(new Error('the agent gave up')), 50);
  await assert.rejects(abandoned, { message: 'the agent gave up' });
  await assert.rejects(linked.client.createSession(new RecordingDelegate(), { sessionId: 'mine' } as never), {
    code: 'ERR_INVALID_REQUEST',
  });
  // The abandoned sessions were shut down on the host: a new session still gets cells.
  const next = await linked.client.createSession(new RecordingDelegate());
  assert.deepEqual(texts(await (await next.execute({ source: 'text("ok")' })).initialEvent), ['ok']);
});

test('200 cell events before the subscription: the stream yields the newest 128, with one warning', async (t) => {
  const logger = capturingLogger();
  const linked = await connectInProcess({ logger });
  t.after(() => linked.close());
  const session = await linked.client.createSession(new RecordingDelegate());
  const { cellId, initialEvent } = await session.execute({ source: 'for (let i = 0; i < 200; i++) text("e" + i)' });
  assert.equal((await initialEvent).kind, 'completed');
  const seen: CellStreamEvent[] = [];
  for await (const event of session.events(cellId)) seen.push(event);
  const outputs = seen.flatMap((event) =>
    event.type === 'output' && event.item.type === 'text' ? [Number(event.item.text.slice(1))] : [],
  );
  // The newest 128 held entries: 128 outputs, or 127 and `closed` if the cell closed first.
  assert.ok(outputs.length === 128 || outputs.length === 127, `${outputs.length} outputs`);
  assert.deepEqual(
    outputs,
    Array.from({ length: outputs.length }, (_, i) => 200 - outputs.length + i),
  );
  assert.equal(seen.at(-1)?.type, 'closed');
  assert.equal(logger.warnings.length, 1, logger.warnings.join('\n'));
});

test('a setupSource with 129 parallel tool calls: none is lost, at most the oldest overflows if they overtake the create answer', async (t) => {
  const linked = await connectInProcess({ logger: capturingLogger() });
  t.after(() => linked.close());
  const delegate = new RecordingDelegate({ echo: (call) => call.input ?? null });
  const session = await linked.client.createSession(delegate, {
    tools: [{ name: 'echo' }],
    limits: { maxConcurrentToolCalls: 200 },
    setupSource: [
      'const results = await Promise.allSettled(Array.from({ length: 129 }, (_, i) => tools.echo({ i })));',
      'text(results[0].status + ": " + (results[0].reason?.message ?? ""));',
      'text(results.slice(1).filter(r => r.status === "fulfilled").length);',
    ].join('\n'),
  });
  const event =
    session.setupEvent?.kind === 'completed'
      ? session.setupEvent
      : await session.observe(session.setupEvent?.cellId ?? '', { kind: 'yieldAfter', ms: 10_000 });
  // The create answer goes out at admission, but the setup cell's calls may still overtake it:
  // the client holds them (PendingRouter, 128 per session), answering an evicted one.
  const [first, fulfilled] = texts(event);
  if (first === 'fulfilled: ') assert.deepEqual([fulfilled, delegate.calls.length], ['128', 129]);
  else
    assert.deepEqual(
      [first, fulfilled, delegate.calls.length],
      ['rejected: pending session buffer overflow', '128', 128],
    );
});

test("terminate while the client delegate hangs: the host answers without waiting on the wire, the client waits for its delegate up to the host's deadline", async (t) => {
  const linked = await connectInProcess({ logger: capturingLogger(), callbackAbortDeadlineMs: 150 });
  t.after(() => linked.close());
  const wire = new WireLog(linked.fromHost);
  const delegate = new RecordingDelegate({ slow: hang });
  const session = await linked.client.createSession(delegate, { tools: [{ name: 'slow' }] });
  const { cellId, initialEvent } = await session.execute(
    { source: 'await tools.slow({})' },
    { kind: 'pendingFrontier' },
  );
  await initialEvent;
  const start = performance.now();
  const terminated = session.terminate(cellId);
  // The host forgets the call at once (one cell/cancel) and answers without waiting on the wire.
  await wire.next((message) => (message.result as { kind?: string } | undefined)?.kind === 'terminated');
  const answered = ms(start);
  assert.equal((await terminated).kind, 'terminated');
  const elapsed = ms(start);
  assert.ok(answered < 140, `the host answered after ${answered} ms`);
  assert.ok(
    elapsed >= 140 && elapsed < 3_000,
    `terminate took ${elapsed} ms: the client waits for its own delegate until the session deadline`,
  );
  assert.equal(delegate.signals[0]?.aborted, true);
});

test('a client that cancels its cell/observe frees the observer slot', async (t) => {
  const linked = await connectInProcess({ logger: capturingLogger() });
  t.after(() => linked.close());
  const session = await linked.client.createSession(new RecordingDelegate());
  const { cellId, initialEvent } = await session.execute(
    { source: 'await new Promise(r => setTimeout(r, 60_000))' },
    { kind: 'yieldAfter', ms: 0 },
  );
  await initialEvent;
  const controller = new AbortController();
  const observing = session.observe(cellId, { kind: 'yieldAfter', ms: 60_000 }, controller.signal);
  await new Promise((resolve) => setTimeout(resolve, 20));
  controller.abort();
  await assert.rejects(observing);
  assert.deepEqual(await session.observe(cellId, { kind: 'yieldAfter', ms: 0 }), {
    kind: 'yielded',
    cellId,
    items: [],
  });
});

test('malformed input gets JSON-RPC errors and the host keeps serving', async (t) => {
  const raw = await rawHost(t);
  const errorCode = async (promise: Promise<{ error?: { code: number } }>): Promise<number | undefined> =>
    (await promise).error?.code;

  raw.write(frame('{"jsonrpc": "2.0", "id": 1, "method": '));
  assert.equal((await raw.log.next((m) => m.error?.code === -32700)).id, null);
  raw.write(frame(Buffer.alloc(10 * 1024 * 1024, 0x7a)));
  await raw.log.next(
    (m) => m.error?.code === -32700 && raw.log.messages.filter((x) => x.error?.code === -32700).length >= 2,
  );
  raw.write('garbage without any header at all\r\n\r\n');
  raw.write(frame('{"jsonrpc":"2.0","id":"x","params":{}}'));
  assert.equal((await raw.log.next((m) => m.id === 'x')).error?.code, -32600);
  assert.equal(await errorCode(raw.call('no/such/method', {})), -32601);
  assert.equal(await errorCode(raw.call('initialize', { protocolVersion: 99 })), -32602);
  assert.equal(await errorCode(raw.call('session/create', 'not an object')), -32602);
  assert.equal(await errorCode(raw.call('session/create', { tools: 'nope' })), -32602);
  assert.equal(
    await errorCode(raw.call('cell/execute', { sessionId: 'nope', request: { source: 'text(1)' } })),
    -32602,
  );
  const created = await raw.call('session/create', {});
  const { sessionId } = created.result as { sessionId: string };
  assert.equal(
    await errorCode(raw.call('cell/observe', { sessionId, cellId: '404', mode: { kind: 'yieldAfter', ms: 0 } })),
    -32602,
  );
  assert.equal(await errorCode(raw.call('cell/execute', { sessionId, request: { source: 42 } })), -32602);
  const missing = await raw.call('cell/terminate', { sessionId, cellId: '404' });
  assert.deepEqual(missing.error?.data, { code: 'ERR_MISSING_CELL' });
  const executed = await raw.call('cell/execute', { sessionId, request: { source: 'text("still serving")' } });
  const { cellId } = executed.result as { cellId: string };
  const initial = await raw.log.next(
    (m) => m.method === 'cell/initialEvent' && (m.params as { cellId?: string }).cellId === cellId,
  );
  assert.deepEqual((initial.params as { event: { items: unknown[] } }).event.items, [
    { type: 'text', text: 'still serving' },
  ]);
});

test('kill -9 of the host mid-cell rejects pending calls with ERR_HOST_EXITED and the next session runs on a fresh host', async (t) => {
  const client = await HostClient.spawn({ logger: capturingLogger(), stderr: 'ignore', rehome: false });
  t.after(() => client.close());
  const delegate = new RecordingDelegate({ slow: hang });
  const session = await client.createSession(delegate, { tools: [{ name: 'slow' }] });
  const firstPid = client.pid;
  const pending = (await session.execute({ source: 'await tools.slow({})' }, { kind: 'yieldAfter', ms: 60_000 }))
    .initialEvent;
  await waitFor(() => delegate.calls.length === 1);
  const start = performance.now();
  process.kill(firstPid ?? 0, 'SIGKILL');
  await assert.rejects(
    pending,
    (error: Error & { code?: string }) => error.code === 'ERR_HOST_EXITED' && /SIGKILL/.test(error.message),
  );
  assert.ok(ms(start) < 3_000);
  await waitFor(() => delegate.signals[0]?.aborted === true);
  assert.equal(session.isAlive, false);
  await assert.rejects(session.observe('1', { kind: 'yieldAfter', ms: 0 }), { code: 'ERR_MISSING_CELL' });
  const fresh = await client.createSession(new RecordingDelegate());
  assert.notEqual(client.pid, firstPid);
  assert.deepEqual(texts(await (await fresh.execute({ source: 'text("alive")' })).initialEvent), ['alive']);
});

test('stdin closed: the host shuts its sessions down, reports the cells closed, and exits 0', async (t) => {
  const child = spawn(HOST_BIN, [], { stdio: ['pipe', 'pipe', 'ignore'] });
  t.after(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const raw = new RawClient(child.stdout, child.stdin);
  await raw.call('initialize', { protocolVersion: 2 });
  const { sessionId } = (await raw.call('session/create', {})).result as { sessionId: string };
  const executed = await raw.call('cell/execute', {
    sessionId,
    request: { source: 'while (true) {}' },
    observe: { kind: 'yieldAfter', ms: 0 },
  });
  const { cellId } = executed.result as { cellId: string };
  child.stdin.end();
  assert.equal(await exited, 0);
  assert.ok(
    raw.log.messages.some((m) => m.method === 'cell/closed' && (m.params as { cellId?: string }).cellId === cellId),
  );
});

test('the host reports its protocol version, server info and limits on initialize', async (t) => {
  const linked = await connectInProcess({ logger: capturingLogger() });
  t.after(() => linked.close());
  assert.equal(linked.client.limits?.maxConcurrentToolCalls, 16);
  assert.equal(linked.client.limits?.memoryMb, 128);
  // Finite time by default on every host (SPEC §15): 60 s of CPU, 10 minutes of wall time.
  assert.equal(linked.client.limits?.cpuTimeMs, 60_000);
  assert.equal(linked.client.limits?.wallTimeMs, 600_000);
});

test('a delegate error crosses the wire as the tool promise rejection with the same message', async (t) => {
  const linked = await connectInProcess({ logger: capturingLogger() });
  t.after(() => linked.close());
  const session = await linked.client.createSession(
    new RecordingDelegate({
      bad: () => {
        throw new Error('quota exceeded');
      },
    }),
    { tools: [{ name: 'bad' }] },
  );
  const event = await (
    await session.execute({ source: 'try { await tools.bad() } catch (e) { text(e.message) }' })
  ).initialEvent;
  assert.deepEqual(texts(event), ['quota exceeded']);
});

test('close() is harmless twice and later sessions are refused', async (t) => {
  const linked = await connectInProcess({ logger: capturingLogger() });
  t.after(() => linked.close());
  await linked.close();
  await linked.client.close();
  await assert.rejects(linked.client.createSession(new RecordingDelegate()), { code: 'ERR_SHUTTING_DOWN' });
});
