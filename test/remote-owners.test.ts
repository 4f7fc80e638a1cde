// SPEC §16 with owners that share hosts or die: a host shared by two owners of a session, where
// the store fences the former one; another client of a shared host claiming a session's key with a
// higher epoch, which the host does not believe; and a kill -9 of the agent process, after which
// another client recovers its session on its own host — the completed cell stands, the call in
// doubt is reported and not made again, the approval is still asked for, values and ids continue.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { HostClient, type RemoteSession } from '../host/index.js';
import { listen } from '../host/server/listen.js';
import { sqliteStore } from '../src/index.js';
import { AGENT_TOOLS } from './fixtures/store-agent.js';
import { crashAgent, untilRecovered } from './agent-process.js';
import { capturingLogger, hang, LONG_WAIT, RecordingDelegate, stall, tempFolder, texts, waitFor } from './helpers.js';
import { startListening } from './network-helpers.js';
import { elsewhere, ownedStore } from './store-helpers.js';

describe('owners of a session on hosts', { timeout: 90_000 }, () => {
  test('a host shared by two owners: the store fences the former owner, which ends its session there', async (t) => {
    const store = sqliteStore({ path: join(tempFolder(t, 'codecell-remote-'), 'shared.db') });
    t.after(() => store.close());
    const host = await startListening(t, '127.0.0.1:0');
    const logger = capturingLogger();
    const old = await HostClient.connect({ hosts: [host.url], store, leaseMs: 300, logger });
    t.after(() => old.close());
    const first = new RecordingDelegate({ rate: hang });
    const session = await old.createSession(first, { key: 'shared-1', tools: AGENT_TOOLS });
    await session.execute({ source: "text('r' + await tools.rate({}))" }, { kind: 'yieldAfter', ms: 0 });
    await waitFor(() => first.calls.length === 1);
    const next = await HostClient.connect({
      hosts: [host.url],
      store: elsewhere(store),
      leaseMs: 300,
      logger: capturingLogger(),
    });
    t.after(() => next.close());
    stall(400);
    const second = new RecordingDelegate({ rate: () => 7 });
    const [recovered] = (await untilRecovered(() => next.recover(() => second))) as RemoteSession[];
    // Its next renewal finds the lease gone: the former owner ends its session there (its call's signal aborted).
    await waitFor(() => !session.isAlive && first.signals[0]?.aborted === true);
    await assert.rejects(session.execute({ source: '1' }), {
      code: 'ERR_SESSION_MOVED',
      message: 'session shared-1 moved: its lease (epoch 1) was taken over or ended',
    });
    // The new owner's cell made the idempotent call again, with its key, and ended.
    assert.equal(recovered?.key, 'shared-1');
    const ended = await (recovered as RemoteSession).observe('1', LONG_WAIT);
    assert.deepEqual(texts(ended), ['r7'], JSON.stringify(ended));
    assert.equal(second.calls[0]?.idempotencyKey, first.calls[0]?.idempotencyKey);
  });

  test('another client of a shared host cannot end a session by claiming its key with a higher epoch', async (t) => {
    const { store } = await ownedStore(t, 'claimed.db');
    const service = await listen({ host: '127.0.0.1', port: 0, logger: capturingLogger() });
    t.after(() => service.close());
    const client = await HostClient.connect({ hosts: [service.url], store, leaseMs: 1_000, logger: capturingLogger() });
    t.after(() => client.close());
    const session = await client.createSession(new RecordingDelegate(), { key: 'victim-1' });
    // A raw client on its own connection claims the key with epoch 99.
    const raw = new WebSocket(service.url);
    t.after(() => raw.terminate());
    await new Promise((resolve) => raw.once('open', resolve));
    const answers: { id: number; result?: unknown; error?: unknown }[] = [];
    raw.on('message', (data) => answers.push(JSON.parse(String(data)) as (typeof answers)[number]));
    const send = (id: number, method: string, params: object): void =>
      raw.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    send(1, 'initialize', { protocolVersion: 2 });
    send(2, 'session/create', { key: 'victim-1', epoch: 99 });
    await waitFor(() => answers.some((answer) => answer.id === 2));
    // The victim's session on the host goes on: believed only from its own connection.
    const cell = await session.execute({ source: 'text(1)' }, LONG_WAIT);
    assert.deepEqual(texts(await cell.initialEvent), ['1']);
    assert.equal(session.isAlive, true);
  });

  test('an agent process killed with -9: another client recovers its session on its own host', async (t) => {
    const path = join(tempFolder(t, 'codecell-remote-'), 'agent.db');
    assert.equal(await crashAgent(t, path, '--remote'), 'READY interrupted');

    const store = sqliteStore({ path });
    t.after(() => store.close());
    const client = await HostClient.spawn({ store, leaseMs: 500, processes: 1, logger: capturingLogger() });
    t.after(() => client.close());
    const delegate = new RecordingDelegate({
      lookup: () => ({ n: -1 }),
      charge: () => 'twice!',
      rate: () => 2,
      approve: (call) => (call.approved === true ? 'yes' : Promise.reject(new Error('not approved'))),
    });
    const first = (await untilRecovered(() => client.recover(() => delegate)))[0] as RemoteSession;
    assert.equal(first.key, 'agent-1');
    // Its host lost before the agent looked: on the next host it pauses in doubt too (it does not
    // wait there for the call's outcome, which no delegate is working on).
    process.kill(first.hostPid as number, 'SIGKILL');
    const paused = await first.observe('2', LONG_WAIT);
    assert.equal(paused.kind === 'interrupted' && paused.reason, 'inDoubt');
    // Its agent lost again before it settled the call in doubt: the next recovery pauses it there again.
    await client.close();
    const again = await HostClient.spawn({ store, leaseMs: 500, processes: 1, logger: capturingLogger() });
    t.after(() => again.close());
    const session = (await untilRecovered(() => again.recover(() => delegate)))[0] as RemoteSession;

    // The charge was started and never answered: in doubt, reported, not made again.
    const inDoubt = await session.observe('2', LONG_WAIT);
    assert.deepEqual(inDoubt.kind === 'interrupted' && [inDoubt.reason, inDoubt.tool, inDoubt.idempotencyKey], [
      'inDoubt',
      { name: 'charge' },
      'agent-1:2:tool-2',
    ]);
    assert.deepEqual({ ...inDoubt, items: [] }, { ...paused, items: [] });
    assert.equal(delegate.calls.length, 0);
    const end = await session.resumeCell('2', { result: 'done' }, LONG_WAIT);
    // 's=2' went out with the pause the first recovery observed: the next one does not tell it again.
    assert.deepEqual([texts(paused), texts(inDoubt), texts(end)], [['s=2'], [], ['charged done', 'rate 2']]);
    assert.deepEqual(
      delegate.calls.map((call) => call.tool.name),
      ['rate'],
    );
    // The approval is still asked for; approved, the cell completes.
    const asked = await session.observe('3', LONG_WAIT);
    assert.deepEqual(asked.kind === 'interrupted' && [asked.tool, asked.payload], [
      { name: 'approve' },
      { ask: 'deploy?' },
    ]);
    const approved = await session.resumeCell('3', { approved: true }, LONG_WAIT);
    assert.deepEqual([approved.kind, texts(approved)], ['completed', ['approved yes']]);
    // Stored values and cell ids continue.
    const next = await session.execute({ source: "text('total=' + load('total'))" }, LONG_WAIT);
    assert.deepEqual([next.cellId, texts(await next.initialEvent)], ['4', ['total=6']]);
  });
});
