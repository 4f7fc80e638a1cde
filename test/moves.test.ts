// Issue 64 (SPEC §13): what is in flight when a session moves settles once, correctly. Every test
// starts the wait first, then breaks the host (kill -9, a drain, a catastrophe of its own), then
// checks the end: observations are asked again where the cell runs on, for what is left of their
// time; a cell that killed its host by running out of memory is named by it and never runs again,
// its neighbours do; an execute the lost host never admitted runs on the next one; answers that
// come during the move reach the cell; calls the client never got are made there, once.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { HostClient, type RemoteSession } from '../host/index.js';
import { Observations } from '../host/client/observations.js';
import { approvalInterrupt, type CellEvent } from '../src/index.js';
import { capturingLogger, deferred, followCell, RecordingDelegate, texts, waitFor } from './helpers.js';
import { startListening } from './network-helpers.js';

const TOOLS = [{ name: 'step' }, { name: 'slow' }];

/** step answers after a moment; slow waits for `release`. */
function tools() {
  const release = deferred<string>();
  const delegate = new RecordingDelegate({
    step: async (call) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return (call.input as { n?: number } | undefined)?.n ?? 1;
    },
    slow: () => release.promise,
  });
  return { delegate, release };
}

async function spawned(t: TestContext): Promise<HostClient> {
  const client = await HostClient.spawn({ processes: 2, logger: capturingLogger(), stderr: 'ignore' });
  t.after(() => client.close());
  return client;
}

async function networked(t: TestContext, env: NodeJS.ProcessEnv[] = [{}, {}], args: string[] = []) {
  const hosts = await Promise.all(env.map((each) => startListening(t, '127.0.0.1:0', args, each)));
  const client = await HostClient.connect({ hosts: hosts.map((host) => host.url), logger: capturingLogger() });
  t.after(() => client.close());
  const serving = (session: RemoteSession) => hosts.find((host) => host.url === session.host);
  return { hosts, client, serving };
}

const COUNTING = 'let n = 0; for (let i = 0; i < 12; i++) n += await tools.step({}); text(`n ${n}`)';

describe('no observation is orphaned by a move', { timeout: 120_000, concurrency: true }, () => {
  test("execute's initial observation across kill -9 of its host settles with the cell's end elsewhere", async (t) => {
    const client = await spawned(t);
    const { delegate } = tools();
    const session = await client.createSession(delegate, { tools: TOOLS });
    const started = await session.execute({ source: COUNTING }, { kind: 'yieldAfter', ms: 60_000 });
    const stream = followCell(t, session, started.cellId);
    await waitFor(() => delegate.calls.length >= 3, 30_000);
    process.kill(session.hostPid as number, 'SIGKILL');
    const end = await started.initialEvent;
    assert.deepEqual(end, { kind: 'completed', cellId: started.cellId, items: [{ type: 'text', text: 'n 12' }] });
    assert.equal(delegate.calls.length, 12, 'each step made once');
    await waitFor(() => stream.some((event) => event.type === 'closed'));
    assert.equal(stream.filter((event) => event.type === 'replayed').length, 1);
    // Nothing is left busy: the cell is simply over.
    await assert.rejects(session.observe(started.cellId, { kind: 'yieldAfter', ms: 0 }), {
      code: 'ERR_MISSING_CELL',
    });
  });

  test('an initial observation waiting across two losses in a row settles where the cell ends', async (t) => {
    const client = await spawned(t);
    const { delegate, release } = tools();
    const session = await client.createSession(delegate, { tools: TOOLS });
    const started = await session.execute(
      { source: 'await tools.step({}); const s = await tools.slow({}); text(`after two: ${s}`)' },
      { kind: 'yieldAfter', ms: 60_000 },
    );
    const stream = followCell(t, session, started.cellId);
    await waitFor(() => delegate.calls.length === 2, 30_000);
    for (let kill = 1; kill <= 2; kill++) {
      process.kill(session.hostPid as number, 'SIGKILL');
      await waitFor(() => stream.filter((event) => event.type === 'replayed').length === kill, 30_000);
    }
    release.resolve('moves');
    assert.deepEqual(texts(await started.initialEvent), ['after two: moves']);
    assert.equal(delegate.calls.length, 2);
  });

  test('an observe (pendingFrontier) in flight across kill -9 of a WebSocket host answers from the new host', async (t) => {
    const { client, serving } = await networked(t);
    const { delegate } = tools();
    const session = await client.createSession(delegate, { tools: TOOLS });
    // Busy for a while (nothing to journal), then waits on slow: the frontier comes only then.
    const source = 'let x = 0; for (let i = 0; i < 3e8; i++) x += i % 7; await tools.slow({ x }); text("never")';
    const started = await session.execute({ source }, { kind: 'yieldAfter', ms: 0 });
    await started.initialEvent;
    const observing = session.observe(started.cellId, { kind: 'pendingFrontier' });
    const from = session.host;
    serving(session)?.child.kill('SIGKILL');
    const pending = await observing;
    assert.notEqual(session.host, from);
    assert.deepEqual(pending, { kind: 'pending', cellId: started.cellId, items: [], pendingToolCallIds: ['tool-1'] });
    assert.deepEqual(
      delegate.calls.map((call) => call.callId),
      ['tool-1'],
    );
  });

  test('a drain (SIGTERM) cut off with an initial observation waiting: it settles on the other host', async (t) => {
    const { client, serving } = await networked(t, [{}, {}], ['--drain-ms', '300']);
    const { delegate, release } = tools();
    const session = await client.createSession(delegate, { tools: TOOLS });
    const started = await session.execute(
      { source: 'const s = await tools.slow({}); text(`got ${s}`)' },
      { kind: 'yieldAfter', ms: 60_000 },
    );
    await waitFor(() => delegate.calls.length === 1, 30_000);
    const from = session.host;
    serving(session)?.child.kill('SIGTERM');
    await waitFor(() => session.host !== from, 30_000);
    release.resolve('it');
    assert.deepEqual(await started.initialEvent, {
      kind: 'completed',
      cellId: started.cellId,
      items: [{ type: 'text', text: 'got it' }],
    });
    assert.equal(delegate.calls.length, 1);
  });

  test('an observation asked again elsewhere waits for what is left of its time, never longer', () => {
    const observations = new Observations();
    const now = performance.now();
    observations.take('1', { kind: 'yieldAfter', ms: 1_000 }, now - 400);
    observations.take('2', { kind: 'yieldAfter', ms: 1_000 }, now - 5_000);
    observations.take('3', { kind: 'pendingFrontier' }, now - 5_000);
    const left = observations.left('1');
    assert.ok(left?.kind === 'yieldAfter' && left.ms <= 600 && left.ms > 0, JSON.stringify(left));
    assert.deepEqual(observations.left('2'), { kind: 'yieldAfter', ms: 0 });
    assert.deepEqual(observations.left('3'), { kind: 'pendingFrontier' });
    assert.throws(() => observations.take('1', { kind: 'pendingFrontier' }), { code: 'ERR_BUSY_OBSERVER' });
    observations.release('1');
    assert.equal(observations.left('1'), undefined);
    assert.equal(observations.size, 2);
  });
});

describe('no poison pill: a host names the cell whose isolate it lost', { timeout: 120_000, concurrency: true }, () => {
  const BOMB = 'await tools.step({ n: 1 }); const m = new Map(); for (let i = 0; ; i++) m.set(i, { i })';

  /**
   * A memory bomb beside an innocent cell waiting on slow, in one session (one host): the bomb ends
   * memoryLimit, never run again. Where V8 loses the isolate (isolated-vm 6 here), the host names
   * the bomb and dies, and the innocent cell runs on elsewhere; where V8 keeps it (isolated-vm 7),
   * the host ends the bomb itself and lives, and the innocent cell completes there. The notice's
   * path on every version: test/distrust.test.ts (a host that names its catastrophe on cue).
   */
  async function bombBesideInnocent(
    t: TestContext,
    session: RemoteSession,
    delegate: RecordingDelegate,
    release: (value: string) => void,
  ) {
    const innocent = await session.execute({ source: 'const s = await tools.slow({}); text(`innocent ${s}`)' });
    const stream = followCell(t, session, innocent.cellId);
    await waitFor(() => delegate.calls.length === 1, 30_000);
    const from = session.host;
    const bomb = await session.execute({ source: BOMB, limits: { memoryMb: 16 } }, { kind: 'yieldAfter', ms: 60_000 });
    const ended: CellEvent = await bomb.initialEvent;
    const lost = ended.kind === 'terminated' && ended.detail !== undefined;
    t.diagnostic(lost ? 'V8 lost the isolate: its host named the bomb and died' : 'V8 kept the isolate');
    const calls = [{ callId: 'tool-1', tool: { name: 'step' }, input: { n: 1 }, outcome: 'returned' }];
    const detail = 'its isolate ran out of memory, and its host ended with it';
    assert.deepEqual(ended, {
      kind: 'terminated',
      cellId: bomb.cellId,
      items: [],
      reason: 'memoryLimit',
      ...(lost ? { toolCalls: calls, detail } : {}),
    });
    release('ok');
    assert.deepEqual(texts(await innocent.initialEvent), ['innocent ok']);
    assert.equal(session.host !== from, lost, 'the session moved only if its host died');
    assert.deepEqual(
      stream.filter((event) => event.type === 'replayed').map((event) => 'from' in event && event.from),
      lost ? [from] : [],
    );
    // The bomb never ran where the session went: that host is whole.
    assert.deepEqual(texts(await (await session.execute({ source: 'text("alive")' })).initialEvent), ['alive']);
    assert.equal(delegate.calls.filter((call) => call.cellId === bomb.cellId).length, 1);
  }

  test('stdio: the bomb ends memoryLimit, its neighbour completes on the other host', async (t) => {
    const client = await spawned(t);
    const { delegate, release } = tools();
    const session = await client.createSession(delegate, { tools: TOOLS });
    await bombBesideInnocent(t, session, delegate, release.resolve);
  });

  test('WebSocket: the notice leaves before the host does', async (t) => {
    const { client } = await networked(t);
    const { delegate, release } = tools();
    const session = await client.createSession(delegate, { tools: TOOLS });
    await bombBesideInnocent(t, session, delegate, release.resolve);
  });
});

describe('what was in flight at the loss', { timeout: 120_000, concurrency: true }, () => {
  test('an answer that comes while the session moves reaches the cell', async (t) => {
    const client = await spawned(t);
    const { delegate, release } = tools();
    const session = await client.createSession(delegate, { tools: TOOLS });
    const started = await session.execute(
      { source: 'await tools.step({}); const s = await tools.slow({}); text(`got ${s}`)' },
      { kind: 'yieldAfter', ms: 60_000 },
    );
    await waitFor(() => delegate.calls.length === 2, 30_000);
    process.kill(session.hostPid as number, 'SIGKILL');
    release.resolve('during'); // before the new host runs the cell
    assert.deepEqual(texts(await started.initialEvent), ['got during']);
    assert.equal(delegate.calls.length, 2);
  });

  test('calls the client never got (queued on the lost host) are made on the new host, once', async (t) => {
    const client = await spawned(t);
    const { delegate, release } = tools();
    const session = await client.createSession(delegate, { tools: TOOLS });
    const started = await session.execute(
      {
        source:
          'const got = await Promise.all([tools.slow({}), tools.step({ n: 2 }), tools.step({ n: 3 })]); text(got.join(" "))',
        limits: { maxConcurrentToolCalls: 1 },
      },
      { kind: 'yieldAfter', ms: 60_000 },
    );
    await waitFor(() => delegate.calls.length === 1, 30_000);
    process.kill(session.hostPid as number, 'SIGKILL');
    release.resolve('s');
    assert.deepEqual(texts(await started.initialEvent), ['s 2 3']);
    assert.deepEqual(
      delegate.calls.map((call) => `${call.callId} ${call.tool.name}`),
      ['tool-1 slow', 'tool-2 step', 'tool-3 step'],
    );
  });

  test('a paused cell moves with the calls waiting to pause it: they pause it in turn on the new host', async (t) => {
    const client = await spawned(t);
    const deleted: number[] = [];
    const allMade = deferred();
    const delegate: RecordingDelegate = new RecordingDelegate({
      del: async (call) => {
        if (delegate.calls.length >= 2) allMade.resolve();
        if (call.approved !== true) {
          await allMade.promise; // both calls are made before either pauses the cell
          throw approvalInterrupt(call);
        }
        deleted.push((call.input as { id: number }).id);
        return (call.input as { id: number }).id;
      },
    });
    const session = await client.createSession(delegate, { tools: [{ name: 'del' }] });
    const started = await session.execute({
      source: 'const got = await Promise.all([tools.del({ id: 1 }), tools.del({ id: 2 })]); text(got.join(" "))',
    });
    const first = await started.initialEvent;
    assert.equal(first.kind === 'interrupted' && first.callId, 'tool-1');
    const wait = { kind: 'yieldAfter', ms: 60_000 } as const;
    process.kill(session.hostPid as number, 'SIGKILL');
    const second = await session.resumeCell(started.cellId, { approved: true }, wait);
    assert.equal(second.kind === 'interrupted' && second.callId, 'tool-2', JSON.stringify(second));
    assert.deepEqual(deleted, [1]);
    const done = await session.resumeCell(started.cellId, { approved: true }, wait);
    assert.deepEqual(texts(done), ['1 2']);
    assert.deepEqual(deleted, [1, 2]);
  });

  test('a cell that read the clock 200 000 times between two calls keeps its journal and runs on elsewhere', async (t) => {
    const client = await spawned(t);
    const { delegate, release } = tools();
    const session = await client.createSession(delegate, { tools: TOOLS, limits: { journalMaxBytes: 8 << 20 } });
    const started = await session.execute(
      {
        source:
          'let last = 0; for (let i = 0; i < 200000; i++) last = Date.now(); const s = await tools.slow({}); ' +
          'text(`${s} ${last === Date.now() || last <= Date.now()}`)',
      },
      { kind: 'yieldAfter', ms: 60_000 },
    );
    await waitFor(() => delegate.calls.length === 1, 30_000);
    process.kill(session.hostPid as number, 'SIGKILL');
    release.resolve('read');
    assert.deepEqual(texts(await started.initialEvent), ['read true']);
  });

  test('a replay that makes fewer calls than recorded (a host in another time zone) ends replayDiverged at once', async (t) => {
    const { client, serving } = await networked(t, [{ TZ: 'UTC' }, { TZ: 'Asia/Tokyo' }]);
    const { delegate } = tools();
    const session = await client.createSession(delegate, { tools: TOOLS });
    const utc = (await (await session.execute({ source: 'text(new Date(0).getHours())' })).initialEvent).items;
    const here = texts({ items: utc })[0] ?? '';
    // Three steps in this host's zone, one in the other's; then it waits for nothing it will get.
    const source =
      `const n = String(new Date(0).getHours()) === ${JSON.stringify(here)} ? 3 : 1; ` +
      'for (let i = 0; i < n; i++) await tools.step({}); await new Promise(() => {})';
    const started = await session.execute({ source }, { kind: 'yieldAfter', ms: 60_000 });
    await waitFor(() => delegate.calls.length === 3, 30_000);
    serving(session)?.child.kill('SIGKILL');
    const end = await started.initialEvent;
    assert.equal(end.kind === 'terminated' && end.reason, 'replayDiverged', JSON.stringify(end));
    assert.equal(delegate.calls.length, 3, 'nothing made again');
  });
});
