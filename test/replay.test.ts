// Durable cells over the wire (issue 53, SPEC §13): a running cell whose host is lost runs again on
// another host from the journal its client kept — every recorded tool call answered without the
// delegate, the call in flight at the loss answered by the delegate's own promise, output already
// seen not repeated, its stream told once — and a replayed cell whose new host is lost too runs on
// again (losses it did not cause). Stdio hosts and WebSocket hosts alike.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { HostClient, type RemoteSession } from '../host/index.js';
import { CellInterrupt, type CellEvent } from '../src/index.js';
import { capturingLogger, deferred, followCell, RecordingDelegate, texts, waitFor } from './helpers.js';
import { startListening } from './network-helpers.js';

const TOOLS = [{ name: 'add' }, { name: 'slow' }];

/**
 * Sequential and parallel calls, a timer, the clock and Math.random; then a call that waits for
 * the test (`slow`), and more calls after it. Its texts repeat the random number and the clock it
 * read first, so a run that read them again would show.
 */
const SOURCE = `
  const first = Date.now();
  const r = Math.random();
  let sum = 0;
  for (let i = 0; i < 12; i++) sum += (await tools.add({ i })).got.i;
  const both = await Promise.all([tools.add({ p: 1 }), tools.add({ p: 2 }), tools.add({ p: 3 })]);
  await new Promise((resolve) => setTimeout(resolve, 5));
  text('seen ' + r + ' ' + first + ' ' + sum + ' ' + both.length);
  notify('before slow ' + r);
  const s = await tools.slow({ r });
  text('unseen ' + r + ' ' + first + ' ' + Math.random());
  for (let i = 0; i < 5; i++) sum += (await tools.add({ after: i })).got.after;
  text('done ' + JSON.stringify(s) + ' ' + sum + ' ' + (Date.now() >= first));
`;

const CALLS_BEFORE_SLOW = 12 + 3 + 1;

/** add answers after a moment; slow waits for the test's `release`. */
function tools() {
  const release = deferred<{ slow: string }>();
  const delegate = new RecordingDelegate({
    add: async (call) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return { got: call.input ?? null };
    },
    slow: () => release.promise,
  });
  return { delegate, release };
}

/**
 * Runs SOURCE until it waits on `slow` (its first text observed), kills its host, releases `slow`
 * and checks that the cell completes elsewhere as one undisturbed run would.
 */
async function survivesItsHost(t: TestContext, client: HostClient, kill: (session: RemoteSession) => void) {
  const { delegate, release } = tools();
  const session = await client.createSession(delegate, { tools: TOOLS });
  const started = await session.execute({ source: SOURCE }, { kind: 'yieldAfter', ms: 0 });
  await started.initialEvent;
  await waitFor(() => delegate.calls.some((call) => call.tool.name === 'slow'), 30_000);
  const seen = await session.observe(started.cellId, { kind: 'pendingFrontier' });
  assert.equal(seen.kind, 'pending');
  const [seenText] = texts(seen);
  assert.match(seenText ?? '', /^seen 0\.\d+ \d+ 66 3$/);
  const [, r, first] = (seenText as string).split(' ');
  const stream = followCell(t, session, started.cellId);
  const from = session.host;
  const observing = session.observe(started.cellId, { kind: 'yieldAfter', ms: 60_000 });
  kill(session);
  await waitFor(() => stream.some((event) => event.type === 'replayed'), 30_000);
  assert.notEqual(session.host, from);
  release.resolve({ slow: 'approved' });
  const end: CellEvent = await observing;
  assert.equal(end.kind, 'completed', JSON.stringify(end));
  const [unseen, done] = texts(end);
  // Output the client had is not produced again; what it had not comes once, from the same run.
  assert.equal(texts(end).length, 2, JSON.stringify(end.items));
  assert.match(unseen ?? '', new RegExp(`^unseen ${r} ${first} 0\\.\\d+$`));
  assert.equal(done, 'done {"slow":"approved"} 76 true');
  // The delegate saw every call exactly once, in order, and the notification once.
  const ids = delegate.calls.map((call) => call.callId);
  assert.deepEqual(
    ids,
    Array.from({ length: CALLS_BEFORE_SLOW + 5 }, (_, index) => `tool-${index + 1}`),
  );
  // Made on either host, a call's idempotency key is the session's (SPEC §16).
  assert.deepEqual(
    delegate.calls.map((call) => call.idempotencyKey),
    ids.map((id) => `${session.key}:${started.cellId}:${id}`),
  );
  assert.deepEqual(
    delegate.notifications.map((notification) => notification.text),
    [`before slow ${r}`],
  );
  assert.deepEqual(
    stream.filter((event) => event.type === 'replayed'),
    [{ type: 'replayed', from, to: session.host }],
  );
  // The session goes on where the cell ran.
  const next = await session.execute({ source: 'text("after")' });
  assert.deepEqual(texts(await next.initialEvent), ['after']);
}

describe('a running cell survives its host (replay)', { timeout: 120_000 }, () => {
  test('spawned hosts: kill -9 mid-cell; it completes on the other, each call once, output once', async (t) => {
    const client = await HostClient.spawn({ processes: 2, logger: capturingLogger() });
    t.after(() => client.close());
    await survivesItsHost(t, client, (session) => process.kill(session.hostPid as number, 'SIGKILL'));
  });

  test('WebSocket hosts: kill -9 the serving process; the cell completes on the other', async (t) => {
    const hosts = [await startListening(t, '127.0.0.1:0'), await startListening(t, '127.0.0.1:0')];
    const client = await HostClient.connect({ hosts: hosts.map((host) => host.url), logger: capturingLogger() });
    t.after(() => client.close());
    await survivesItsHost(t, client, (session) =>
      hosts.find((host) => host.url === session.host)?.child.kill('SIGKILL'),
    );
  });

  test('a cell moved by losses it did not cause runs on as often as needed: three hosts killed in turn', async (t) => {
    const client = await HostClient.spawn({ processes: 2, logger: capturingLogger() });
    t.after(() => client.close());
    const { delegate, release } = tools();
    const session = await client.createSession(delegate, { tools: TOOLS });
    const started = await session.execute(
      { source: 'await tools.add({ n: 1 }); const s = await tools.slow({}); await tools.add({ n: 2 }); text(s.slow)' },
      { kind: 'yieldAfter', ms: 0 },
    );
    await waitFor(() => delegate.calls.length === 2, 30_000);
    const stream = followCell(t, session, started.cellId);
    const observing = session.observe(started.cellId, { kind: 'yieldAfter', ms: 60_000 });
    for (let kill = 1; kill <= 3; kill++) {
      process.kill(session.hostPid as number, 'SIGKILL');
      await waitFor(() => stream.filter((event) => event.type === 'replayed').length === kill, 30_000);
    }
    release.resolve({ slow: 'done' });
    const end = await observing;
    assert.deepEqual(end, { kind: 'completed', cellId: started.cellId, items: [{ type: 'text', text: 'done' }] });
    // Made once each, though the cell ran on four hosts.
    assert.deepEqual(
      delegate.calls.map((call) => `${call.callId} ${call.tool.name}`),
      ['tool-1 add', 'tool-2 slow', 'tool-3 add'],
    );
  });

  test('a cell paused for approval survives its host: restored paused, resumeCell finishes it there', async (t) => {
    const client = await HostClient.spawn({ processes: 2, logger: capturingLogger() });
    t.after(() => client.close());
    const delegate = new RecordingDelegate({
      add: (call) => ({ got: call.input ?? null }),
      approve: () => {
        throw new CellInterrupt({ ask: 'pay' });
      },
    });
    const session = await client.createSession(delegate, { tools: [{ name: 'add' }, { name: 'approve' }] });
    const started = await session.execute({
      source:
        'const r = Math.random(); await tools.add({ n: 1 }); const ok = await tools.approve({ r }); ' +
        'await tools.add({ n: 2 }); text(JSON.stringify(ok) + " " + r)',
    });
    const paused = await started.initialEvent;
    assert.equal(paused.kind, 'interrupted');
    const from = session.host;
    process.kill(session.hostPid as number, 'SIGKILL');
    await waitFor(() => session.host !== from, 30_000);
    const end = await session.resumeCell(started.cellId, { result: { approved: true } });
    assert.equal(end.kind, 'completed', JSON.stringify(end));
    const approveInput = delegate.calls[1]?.input as { r: number };
    assert.deepEqual(texts(end), [`{"approved":true} ${approveInput.r}`]);
    assert.deepEqual(
      delegate.calls.map((call) => `${call.callId} ${call.tool.name}`),
      ['tool-1 add', 'tool-2 approve', 'tool-3 add'],
    );
  });

  test('a cell whose journal passed journalMaxBytes is not replayable: it ends hostLost', async (t) => {
    const client = await HostClient.spawn({ processes: 2, logger: capturingLogger() });
    t.after(() => client.close());
    const { delegate } = tools();
    const session = await client.createSession(delegate, { tools: TOOLS });
    const started = await session.execute(
      {
        source: 'await tools.add({ pad: "x".repeat(4000) }); await tools.slow({}); text("never")',
        limits: { journalMaxBytes: 1024 },
      },
      { kind: 'yieldAfter', ms: 0 },
    );
    await waitFor(() => delegate.calls.length === 2, 30_000);
    const observing = session.observe(started.cellId, { kind: 'yieldAfter', ms: 60_000 });
    process.kill(session.hostPid as number, 'SIGKILL');
    const end = await observing;
    assert.equal(end.kind === 'terminated' && end.reason, 'hostLost', JSON.stringify(end));
    assert.equal(delegate.calls.length, 2);
  });
});
