// Protocol v2: the out-of-process session keeps the in-process promises (issue 16).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HostClient } from '../host/index.js';
import { connectInProcess } from '../host/in-process.js';
import type { CellStreamEvent } from '../src/index.js';
import { capturingLogger, hang, ms, RecordingDelegate, texts } from './helpers.js';
import { bothKinds, HOST_BIN } from './sessions.js';

for (const kind of bothKinds) {
  describe(`${kind.name}: the same interface`, () => {
    test('beginObserve of an unknown cell rejects itself; an aborted observe rejects with the reason and frees the slot at once', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      await assert.rejects(session.beginObserve('404', { kind: 'yieldAfter', ms: 0 }), { code: 'ERR_MISSING_CELL' });
      const { cellId, initialEvent } = await session.execute(
        { source: 'await new Promise(() => {})' },
        { kind: 'yieldAfter', ms: 0 },
      );
      await initialEvent;
      const controller = new AbortController();
      const { event } = await session.beginObserve(cellId, { kind: 'yieldAfter', ms: 60_000 }, controller.signal);
      const reason = new Error('the agent moved on');
      controller.abort(reason);
      await assert.rejects(event, (error) => error === reason);
      assert.deepEqual(await session.observe(cellId, { kind: 'yieldAfter', ms: 0 }), {
        kind: 'yielded',
        cellId,
        items: [],
      });
      await assert.rejects(
        session.observe(cellId, { kind: 'yieldAfter', ms: 0 }, AbortSignal.abort(reason)),
        (error) => error === reason,
      );
    });

    test('a tool that returns undefined gives the cell undefined, and null stays null', async (t) => {
      const session = await kind.open(t, new RecordingDelegate({ nothing: () => undefined, empty: () => null }), {
        tools: [{ name: 'nothing' }, { name: 'empty' }],
      });
      const event = await (
        await session.execute({ source: 'text(String(await tools.nothing())); text(String(await tools.empty()))' })
      ).initialEvent;
      assert.deepEqual(texts(event), ['undefined', 'null']);
    });

    test('callbackAbortDeadlineMs is a session option, validated the same way', async (t) => {
      await assert.rejects(kind.open(t, new RecordingDelegate(), { callbackAbortDeadlineMs: -1 }), {
        code: 'ERR_INVALID_REQUEST',
      });
      const session = await kind.open(t, new RecordingDelegate({ slow: hang }), {
        tools: [{ name: 'slow' }],
        callbackAbortDeadlineMs: 50,
      });
      const { cellId, initialEvent } = await session.execute(
        { source: 'await tools.slow({})' },
        { kind: 'pendingFrontier' },
      );
      await initialEvent;
      const start = performance.now();
      assert.equal((await session.terminate(cellId)).kind, 'terminated');
      // A deadline ignored would hang it for good; a busy machine may take a while.
      assert.ok(ms(start) < 5_000, `terminate took ${ms(start)} ms`);
    });

    test('execute resolves at admission: a runaway cell is terminated at once', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const start = performance.now();
      const { cellId, initialEvent } = await session.execute({ source: 'while (true) {}' });
      assert.deepEqual(await session.terminate(cellId), { kind: 'terminated', cellId, items: [], reason: 'requested' });
      assert.ok(ms(start) < 2_000, `${ms(start)} ms`);
      assert.equal((await initialEvent).kind, 'terminated');
    });

    test('1 000 outputs: a subscriber right after execute gets them all, in order', async (t) => {
      const quiet = await kind.open(t, new RecordingDelegate());
      const source = 'for (let i = 0; i < 1000; i++) text(`line ${i}`)';
      assert.equal(texts(await (await quiet.execute({ source })).initialEvent).length, 1000);
      const { cellId, initialEvent } = await quiet.execute({ source });
      const seen: string[] = [];
      for await (const event of quiet.events(cellId) as AsyncIterable<CellStreamEvent>)
        if (event.type === 'output' && event.item.type === 'text') seen.push(event.item.text);
      assert.deepEqual(
        seen,
        Array.from({ length: 1000 }, (_, i) => `line ${i}`),
      );
      await initialEvent;
    });
  });
}

test('over linked streams: 1 000 outputs without a subscriber put no cell/event on the wire and log nothing', async (t) => {
  const logger = capturingLogger();
  const linked = await connectInProcess({ logger });
  t.after(() => linked.close());
  let events = 0;
  linked.fromHost.on('data', (chunk: Buffer) => {
    events += chunk.toString('utf8').split('"cell/event"').length - 1;
  });
  const session = await linked.client.createSession(new RecordingDelegate());
  const { initialEvent } = await session.execute({ source: 'for (let i = 0; i < 1000; i++) text(`line ${i}`)' });
  assert.equal(texts(await initialEvent).length, 1000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(events, 0);
  assert.deepEqual([...logger.warnings, ...logger.errors], []);
});

describe('HostClient spawning codecell-host', () => {
  test('a runaway cell with the default initial observation is terminated long before its 10 s yield', async (t) => {
    const client = await HostClient.spawn({ command: HOST_BIN, args: [], logger: capturingLogger() });
    t.after(() => client.close());
    const session = await client.createSession(new RecordingDelegate());
    const start = performance.now();
    const { cellId } = await session.execute({ source: 'while (true) {}' });
    assert.equal((await session.terminate(cellId)).kind, 'terminated');
    // execute resolves at admission, not after the default yield (10 s).
    assert.ok(ms(start) < 5_000, `execute + terminate took ${ms(start)} ms`);
  });

  test('a catastrophic isolate error five times in a row: ERR_HOST_EXITED within 3 s each time, and a working host after', async (t) => {
    // The fixture host reacts as codecell-host does (exitAtOnce) and causes the catastrophe on SIGUSR2.
    const fixture = fileURLToPath(new URL('./fixtures/catastrophic-host.js', import.meta.url));
    const client = await HostClient.spawn({
      command: process.execPath,
      args: ['--no-node-snapshot', fixture],
      processes: 1,
      rehome: false,
      logger: capturingLogger(),
      stderr: 'ignore',
    });
    t.after(() => client.close());
    const pids = new Set<number>();
    for (let run = 0; run < 5; run++) {
      const session = await client.createSession(new RecordingDelegate());
      const { initialEvent } = await session.execute({ source: 'for (;;) {}' }, { kind: 'yieldAfter', ms: 30_000 });
      const start = performance.now();
      pids.add(client.pid as number);
      process.kill(client.pid as number, 'SIGUSR2');
      await assert.rejects(initialEvent, { code: 'ERR_HOST_EXITED' }, `run ${run}`);
      assert.ok(ms(start) < 3_000, `run ${run}: ${ms(start)} ms`);
    }
    assert.equal(pids.size, 5, 'a fresh host each time');
    const fresh = await client.createSession(new RecordingDelegate());
    assert.deepEqual(texts(await (await fresh.execute({ source: 'text("alive")' })).initialEvent), ['alive']);
  });

  test('the spawn handshake is bounded: a command that never answers initialize is killed and reported', async () => {
    const start = performance.now();
    await assert.rejects(
      HostClient.spawn({
        command: process.execPath,
        args: ['-e', 'setInterval(() => {}, 1000)'],
        logger: capturingLogger(),
        livenessTimeoutMs: 200,
      }),
      { code: 'ERR_HOST_EXITED' },
    );
    assert.ok(ms(start) < 3_000, `${ms(start)} ms`);
  });

  test('a host that stops answering (SIGSTOP) is detected, killed and replaced; the execute it never took runs on its successor', async (t) => {
    // Generous enough for a cold start on a loaded machine: a host has 2 × this to answer.
    const client = await HostClient.spawn({
      command: HOST_BIN,
      args: [],
      logger: capturingLogger(),
      livenessTimeoutMs: 1_000,
    });
    t.after(() => client.close());
    const session = await client.createSession(new RecordingDelegate());
    const stopped = client.pid ?? 0;
    process.kill(stopped, 'SIGSTOP');
    t.after(() => {
      try {
        process.kill(stopped, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    // The stopped host never admitted the cell (nothing of it came): it runs where the session went.
    const carried = await session.execute({ source: 'text(1)' });
    assert.notEqual(session.hostPid, stopped);
    assert.deepEqual(texts(await carried.initialEvent), ['1']);
    const fresh = await client.createSession(new RecordingDelegate());
    assert.notEqual(client.pid, stopped);
    assert.deepEqual(texts(await (await fresh.execute({ source: 'text("alive")' })).initialEvent), ['alive']);
  });
});
