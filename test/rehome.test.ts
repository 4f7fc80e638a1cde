// Sessions outlive their host (issue 52, SPEC §13): a session whose host is killed moves to another
// host with its stored values and cell ids, and a running cell that keeps no journal ends
// `hostLost` with the exact list of its tool calls; a draining host hands its sessions off (idle ones at once, busy ones
// when their cells end; what still runs at the end of the drain is lost as above); `rehome: false`
// keeps the old end.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HostClient, type RemoteSession } from '../host/index.js';
import type { CellEvent } from '../src/index.js';
import { capturingLogger, deferred, followSession, hang, RecordingDelegate, texts, waitFor } from './helpers.js';
import { codeOf, startListening } from './network-helpers.js';

/** A cell that keeps no journal is lost with its host (one that keeps one runs again: replay.test). */
const NO_JOURNAL = { journalMaxBytes: 0 };

const TOOLS = [{ name: 'save' }, { name: 'broken' }, { name: 'slow' }];

/** save answers, broken throws, slow never answers (and ignores its signal). */
const delegate = (): RecordingDelegate =>
  new RecordingDelegate({
    save: (call) => ({ saved: call.input ?? null }),
    broken: () => {
      throw new Error('broken on purpose');
    },
    slow: () => hang(),
  });

/** Starts a cell that keeps running, and waits until the delegate has seen `calls` tool calls. */
async function runningCell(session: RemoteSession, tools: RecordingDelegate, source: string, calls: number) {
  // No journal: the cell cannot run again elsewhere (test/replay.test.ts), so it is lost with its host.
  const running = await session.execute({ source, limits: NO_JOURNAL }, { kind: 'yieldAfter', ms: 0 });
  await running.initialEvent;
  await waitFor(() => tools.calls.length === calls, 30_000);
  return running.cellId;
}

/** A session with a stored value and one finished cell, then a cell left waiting on `slow`. */
async function sessionWithWork(client: HostClient) {
  const tools = delegate();
  const session = await client.createSession(tools, { tools: TOOLS });
  const first = await session.execute({ source: 'store("n", 41); store("list", [1, 2]); text("kept")' });
  assert.deepEqual(texts(await first.initialEvent), ['kept']);
  const runningId = await runningCell(
    session,
    tools,
    'await tools.save({ order: 1 }); try { await tools.broken({ order: 2 }) } catch {}; ' +
      'text("before slow"); await tools.slow({ order: 3 }); text("never")',
    3,
  );
  return { session, tools, firstId: first.cellId, runningId };
}

function assertLostWithCalls(event: CellEvent, cellId: string): void {
  assert.equal(event.kind, 'terminated');
  assert.equal(event.cellId, cellId);
  assert.equal(event.kind === 'terminated' && event.reason, 'hostLost');
  assert.deepEqual(event.kind === 'terminated' && event.toolCalls, [
    { callId: 'tool-1', tool: { name: 'save' }, input: { order: 1 }, outcome: 'returned' },
    { callId: 'tool-2', tool: { name: 'broken' }, input: { order: 2 }, outcome: 'threw' },
    { callId: 'tool-3', tool: { name: 'slow' }, input: { order: 3 }, outcome: 'pending' },
  ]);
}

describe('re-homing on host loss', { timeout: 90_000 }, () => {
  test('spawned hosts: kill -9 the session’s process; it goes on in another with its values, ids and the lost cell’s calls', async (t) => {
    const client = await HostClient.spawn({ processes: 2, logger: capturingLogger() });
    t.after(() => client.close());
    const { session, tools, firstId, runningId } = await sessionWithWork(client);
    const seen = followSession(t, session);
    const before = { host: session.host, pid: session.hostPid, id: session.sessionId };
    const observing = session.observe(runningId, { kind: 'yieldAfter', ms: 30_000 });
    process.kill(before.pid as number, 'SIGKILL');

    assertLostWithCalls(await observing, runningId);
    // The tool calls listed are exactly the ones the delegate saw.
    assert.deepEqual(
      tools.calls.map((call) => call.callId),
      ['tool-1', 'tool-2', 'tool-3'],
    );
    await waitFor(() => seen.some((event) => event.type === 'rehomed'));
    assert.ok(session.isAlive, 'the session goes on');
    assert.notEqual(session.hostPid, before.pid);
    assert.deepEqual(
      seen.find((event) => event.type === 'rehomed'),
      // Numbered by the client, one more per event it heard since it followed the session.
      {
        type: 'rehomed',
        from: before.host,
        to: session.host,
        reason: 'hostLost',
        seq: seen.findIndex((event) => event.type === 'rehomed') + 1,
      },
    );
    assert.ok(tools.closed.includes(runningId), 'the delegate heard the lost cell close');

    const next = await session.execute({ source: 'text(JSON.stringify([load("n"), load("list")]))' });
    assert.deepEqual(texts(await next.initialEvent), ['[41,[1,2]]']);
    assert.ok(Number(next.cellId) > Number(runningId), `ids continue: ${firstId}, ${runningId}, ${next.cellId}`);
    // The lost cell's end was handed out once: it is gone now, like a cell observed to its end.
    await assert.rejects(
      session.observe(runningId, { kind: 'pendingFrontier' }),
      (error) => codeOf(error) === 'ERR_MISSING_CELL',
    );
    await session.shutdown();
  });

  test('a lost cell nobody was observing keeps its end for the next observe; its stream ends with it', async (t) => {
    const client = await HostClient.spawn({ processes: 1, logger: capturingLogger() });
    t.after(() => client.close());
    const { session, runningId } = await sessionWithWork(client);
    const events = session.events(runningId, { from: 'start' });
    t.after(async () => void (await events.return?.()));
    const pid = session.hostPid as number;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => session.hostPid !== undefined && session.hostPid !== pid);
    assertLostWithCalls(await session.observe(runningId, { kind: 'pendingFrontier' }), runningId);
    const streamed = [];
    for await (const event of events) streamed.push(event);
    const closed = streamed.at(-1);
    assert.equal(closed?.type, 'closed');
    assertLostWithCalls((closed as { event: CellEvent }).event, runningId);
  });

  test('a lost cell lists its newest 1 000 calls; older answered ones are counted, a waiting one is kept', async (t) => {
    const client = await HostClient.spawn({ processes: 2, logger: capturingLogger() });
    t.after(() => client.close());
    const tools = delegate();
    const session = await client.createSession(tools, { tools: TOOLS });
    const cellId = await runningCell(
      session,
      tools,
      'const first = tools.slow({ order: 0 }); first.catch(() => {}); ' +
        'for (let i = 1; i <= 1005; i++) await tools.save({ order: i }); await first',
      1006,
    );
    const observing = session.observe(cellId, { kind: 'yieldAfter', ms: 30_000 });
    process.kill(session.hostPid as number, 'SIGKILL');
    const lost = await observing;
    assert.ok(lost.kind === 'terminated' && lost.reason === 'hostLost', JSON.stringify(lost).slice(0, 200));
    assert.equal(lost.toolCallsDropped, 6);
    const calls = lost.toolCalls ?? [];
    assert.equal(calls.length, 1000);
    assert.deepEqual(calls[0], { callId: 'tool-1', tool: { name: 'slow' }, input: { order: 0 }, outcome: 'pending' });
    // The oldest answered ones went (orders 1-6); the rest are listed in the order they came.
    assert.deepEqual(
      calls.slice(1).map((call) => (call.input as { order: number }).order),
      Array.from({ length: 999 }, (_, i) => i + 7),
    );
    assert.ok(calls.slice(1).every((call) => call.outcome === 'returned'));
  });

  test('rehome: false: the session ends with its host (ERR_HOST_EXITED), as before', async (t) => {
    const client = await HostClient.spawn({ processes: 2, rehome: false, logger: capturingLogger() });
    t.after(() => client.close());
    const session = await client.createSession(delegate(), { tools: TOOLS });
    const running = await session.execute({ source: 'await tools.slow()' }, { kind: 'yieldAfter', ms: 0 });
    await running.initialEvent;
    const observing = session.observe(running.cellId, { kind: 'yieldAfter', ms: 30_000 });
    process.kill(session.hostPid as number, 'SIGKILL');
    await assert.rejects(observing, (error) => codeOf(error) === 'ERR_HOST_EXITED');
    await waitFor(() => !session.isAlive);
  });
});

describe('hand-off on drain', { timeout: 90_000 }, () => {
  test('SIGTERM: an idle session moves at once, a busy one when its cell ends; the host exits long before its grace', async (t) => {
    const draining = await startListening(t, '127.0.0.1:0', ['--drain-ms', '30000']);
    const other = await startListening(t, '127.0.0.1:0');
    const client = await HostClient.connect({ hosts: [draining.url, other.url], logger: capturingLogger() });
    t.after(() => client.close());
    const busyTools = delegate();
    const answer = deferred<{ ok: boolean }>();
    busyTools.tools.slow = () => answer.promise;
    const [idle, busy] = (await sessionsOn(client, draining.url, [delegate(), busyTools])) as [
      RemoteSession,
      RemoteSession,
    ];
    for (const session of [idle, busy])
      await (
        await session.execute({ source: 'store("where", "first")' })
      ).initialEvent;
    const running = await busy.execute(
      { source: 'text(JSON.stringify(await tools.slow()))' },
      { kind: 'yieldAfter', ms: 0 },
    );
    await running.initialEvent;
    await waitFor(() => busyTools.calls.length === 1);
    const idleSeen = followSession(t, idle);
    const busySeen = followSession(t, busy);

    const signalled = performance.now();
    draining.child.kill('SIGTERM');
    await waitFor(() => idle.host === other.url);
    assert.deepEqual(
      idleSeen.find((event) => event.type === 'rehomed'),
      { type: 'rehomed', from: draining.url, to: other.url, reason: 'drain', seq: 1 },
    );
    assert.equal(busy.host, draining.url, 'a session with a running cell stays until it ends');
    answer.resolve({ ok: true });
    assert.deepEqual(texts(await busy.observe(running.cellId, { kind: 'yieldAfter', ms: 10_000 })), ['{"ok":true}']);
    await waitFor(() => busy.host === other.url);
    assert.ok(busySeen.some((event) => event.type === 'rehomed' && event.reason === 'drain'));
    for (const session of [idle, busy]) {
      const next = await session.execute({ source: 'text(load("where"))' });
      assert.deepEqual(texts(await next.initialEvent), ['first']);
    }
    assert.equal(await draining.exited, 0);
    assert.ok(performance.now() - signalled < 15_000, 'the host left once its sessions were handed off');
  });

  test('at the end of the drain, a cell still running is lost (hostLost, its calls) and the session moves', async (t) => {
    const draining = await startListening(t, '127.0.0.1:0', ['--drain-ms', '500']);
    const other = await startListening(t, '127.0.0.1:0');
    const client = await HostClient.connect({ hosts: [draining.url, other.url], logger: capturingLogger() });
    t.after(() => client.close());
    const tools = delegate();
    const [session] = await sessionsOn(client, draining.url, [tools]);
    await (
      await session.execute({ source: 'store("n", 7)' })
    ).initialEvent;
    const spinning = await session.execute(
      { source: 'await tools.save({ order: 1 }); while (true) {}', limits: NO_JOURNAL },
      { kind: 'yieldAfter', ms: 0 },
    );
    await spinning.initialEvent;
    await waitFor(() => tools.calls.length === 1);
    const observing = session.observe(spinning.cellId, { kind: 'yieldAfter', ms: 30_000 });
    draining.child.kill('SIGTERM');
    const event = await observing;
    assert.equal(event.kind === 'terminated' && event.reason, 'hostLost');
    assert.deepEqual(event.kind === 'terminated' && event.toolCalls, [
      { callId: 'tool-1', tool: { name: 'save' }, input: { order: 1 }, outcome: 'returned' },
    ]);
    await waitFor(() => session.host === other.url);
    const next = await session.execute({ source: 'text(load("n"))' });
    assert.deepEqual(texts(await next.initialEvent), ['7']);
    assert.equal(await draining.exited, 0);
  });
});

/** Sessions on `host`, one per delegate (the client spreads sessions: those placed elsewhere are shut down). */
async function sessionsOn(
  client: HostClient,
  host: string,
  delegates: RecordingDelegate[],
): Promise<[RemoteSession, ...RemoteSession[]]> {
  const placed: RemoteSession[] = [];
  for (const each of delegates) {
    for (;;) {
      const session = await client.createSession(each, { tools: TOOLS });
      if (session.host === host) {
        placed.push(session);
        break;
      }
      await session.shutdown();
    }
  }
  return placed as [RemoteSession, ...RemoteSession[]];
}
