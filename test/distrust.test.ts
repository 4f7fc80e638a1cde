// Issue 64: a client distrusts its host (STYLE 30). Every durability message a host sends is
// checked at the edge against one declared shape and the client's own figures; a host that breaks
// one is treated as lost — killed, its sessions moved — and sessions on other hosts never notice.
// And an execute in flight when its host is lost: carried to the next host if the lost one never
// admitted it, otherwise refused with a message that says the session goes on. And a host that
// names the cell whose isolate it lost (host/catastrophe, on cue here: V8 loses one only sometimes).
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { HostClient } from '../host/index.js';
import type { SessionStreamEvent } from '../src/index.js';
import { capturingLogger, deferred, RecordingDelegate, tempFolder, texts, waitFor } from './helpers.js';

const MEDDLER = fileURLToPath(new URL('./fixtures/meddling-host.js', import.meta.url));

/** Two host processes; the first one started meddles as `mode` says (test/fixtures/meddling-host.ts). */
async function meddled(
  t: TestContext,
  mode: string,
  delegate = new RecordingDelegate({ echo: (call) => call.input ?? null }),
) {
  const marker = join(tempFolder(t, 'codecell-meddler-'), 'armed');
  const logger = capturingLogger();
  const client = await HostClient.spawn({
    command: process.execPath,
    args: ['--no-node-snapshot', MEDDLER, marker, mode],
    processes: 2,
    logger,
    stderr: 'ignore',
  });
  t.after(() => client.close());
  const session = await client.createSession(delegate, { tools: [{ name: 'echo' }, { name: 'slow' }] });
  return { client, logger, delegate, session };
}

const BROKEN = ['no-start', 'journal-figures', 'unknown-cell', 'stored-flood', 'malformed-journal'];

describe('a host that breaks the protocol is treated as lost', { timeout: 120_000, concurrency: true }, () => {
  for (const mode of BROKEN) {
    test(`${mode}: its sessions move, sessions on the other host never notice`, async (t) => {
      const { client, logger, delegate, session } = await meddled(t, mode);
      const bystander = await client.createSession(new RecordingDelegate(), {});
      assert.notEqual(bystander.host, session.host, 'the bystander lives on the honest host');
      const followed: SessionStreamEvent[] = [];
      void (async () => {
        for await (const event of bystander.events()) followed.push(event);
      })().catch(() => {});
      const from = session.host;
      const first = await session.execute({ source: 'text(JSON.stringify(await tools.echo({ n: 1 })))' });
      // It ended there before the host broke, or it ends with it: nothing that host sent runs again.
      const end = await first.initialEvent;
      if (end.kind !== 'completed')
        assert.match(end.kind === 'terminated' ? (end.detail ?? '') : end.kind, /its host broke the protocol/);
      else assert.deepEqual(texts(end), ['{"n":1}']);
      await waitFor(() => session.host !== from, 30_000);
      assert.ok(
        logger.warnings.some((line) => line.includes(`${from} broke the protocol`)),
        logger.warnings.join('\n'),
      );
      assert.deepEqual(texts(await (await session.execute({ source: 'text("moved")' })).initialEvent), ['moved']);
      assert.ok(delegate.calls.length <= 1);
      assert.deepEqual(texts(await (await bystander.execute({ source: 'text("calm")' })).initialEvent), ['calm']);
      assert.equal(followed.filter((event) => event.type === 'rehomed').length, 0);
    });
  }
});

describe('an execute in flight when its host is lost', { timeout: 120_000, concurrency: true }, () => {
  test('never admitted there: it runs on the next host', async (t) => {
    const { session, delegate } = await meddled(t, 'never-admit');
    const from = session.host;
    const started = await session.execute({ source: 'text((await tools.echo({ v: "once" })).v)' });
    assert.notEqual(session.host, from);
    assert.deepEqual(texts(await started.initialEvent), ['once']);
    assert.equal(delegate.calls.length, 1);
  });

  test('admitted there (its journal came): refused, saying the session goes on elsewhere', async (t) => {
    const { session } = await meddled(t, 'lose-execute-answer');
    await assert.rejects(session.execute({ source: 'text(1)' }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ERR_HOST_EXITED');
      assert.match(error.message, /the cell had started there .* the session goes on on another host/);
      return true;
    });
    assert.equal(session.isAlive, true);
    // Ids go on after the one the lost host gave it: nothing of that cell is taken for this one.
    const next = await session.execute({ source: 'text(2)' });
    assert.equal(next.cellId, '2');
    assert.deepEqual(texts(await next.initialEvent), ['2']);
  });
});

describe('a host names the cell whose isolate it lost', { timeout: 120_000 }, () => {
  test('that cell ends memoryLimit and never runs again; its neighbour runs on elsewhere', async (t) => {
    const release = deferred<string>();
    const delegate = new RecordingDelegate({ echo: (call) => call.input ?? null, slow: () => release.promise });
    const { session } = await meddled(t, 'catastrophe', delegate);
    const innocent = await session.execute({ source: 'text(`innocent ${await tools.slow({})}`)' });
    await waitFor(() => delegate.calls.length === 1, 30_000);
    const from = session.host;
    // Cell 2's first call is where its host says V8 lost its isolate.
    const culprit = await session.execute(
      { source: 'await tools.echo({ n: 1 }); await new Promise(() => {})' },
      { kind: 'yieldAfter', ms: 60_000 },
    );
    assert.deepEqual(await culprit.initialEvent, {
      kind: 'terminated',
      cellId: culprit.cellId,
      items: [],
      reason: 'memoryLimit',
      toolCalls: [{ callId: 'tool-1', tool: { name: 'echo' }, input: { n: 1 }, outcome: 'returned' }],
      detail: 'its isolate ran out of memory, and its host ended with it',
    });
    release.resolve('ok');
    assert.deepEqual(texts(await innocent.initialEvent), ['innocent ok']);
    assert.notEqual(session.host, from);
    // The culprit was never run again: its one call, the innocent's one.
    assert.deepEqual(
      delegate.calls.map((call) => `${call.cellId} ${call.callId}`),
      ['1 tool-1', '2 tool-1'],
    );
  });
});
