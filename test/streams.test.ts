// Session-wide streams, replay from a cell's admission, ordered hand-off, readText(), and remote
// streams that fail when their host dies (issue 18), against both session implementations.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { HostClient, type RemoteSession } from '../host/index.js';
import { CellStreams } from '../src/streams/cell-streams.js';
import { EventStream } from '../src/streams/event-stream.js';
import type { CellStreamEvent, HandOffStream, SessionStreamEvent } from '../src/index.js';
import { capturingLogger, RecordingDelegate } from './helpers.js';
import { bothKinds, HOST_BIN } from './sessions.js';

/** Reads `count` events (or to the end) from a stream without ending it. */
async function take<T>(stream: AsyncIterator<T>, count: number): Promise<T[]> {
  const taken: T[] = [];
  while (taken.length < count) {
    const next = await stream.next();
    if (next.done === true) break;
    taken.push(next.value);
  }
  return taken;
}

async function all<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const events: T[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

const textOf = (event: CellStreamEvent | SessionStreamEvent): string | undefined =>
  event.type === 'output' && event.item.type === 'text' ? event.item.text : undefined;

/** A random integer in [0, n). */
const random = (n: number): number => Math.floor(Math.random() * n);

test('hand-off of a stream of 10 000 events at a random point, 100 times: nothing lost, nothing duplicated, order kept', async () => {
  for (let trial = 0; trial < 100; trial++) {
    const streams = new CellStreams({ logger: capturingLogger(), retainClosed: 1, sessionFromCells: true });
    streams.admit('1');
    const first = streams.subscribe('1');
    const handAt = random(10_000);
    const produced = (async () => {
      for (let i = 0; i < 10_000; i++) {
        streams.emit('1', { type: 'notification', text: String(i) });
        if (i % 97 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      streams.emit('1', { type: 'closed', event: { kind: 'completed', cellId: '1', items: [] } });
    })();
    const before = await take(first, handAt);
    const second = first.handOff();
    assert.deepEqual(await first.next(), { value: undefined, done: true }, 'the old consumer sees its end');
    const after = await all(second);
    await produced;
    const seen = [...before, ...after].flatMap((event) => (event.type === 'notification' ? [Number(event.text)] : []));
    assert.equal(seen.length, 10_000, `trial ${trial}: ${seen.length} events`);
    assert.ok(
      seen.every((value, i) => value === i),
      `trial ${trial}: out of order or duplicated`,
    );
    assert.equal(after.at(-1)?.type, 'closed');
  }
});

for (const kind of bothKinds) {
  describe(`${kind.name}: streams`, () => {
    test('session.events() follows every cell: admission first, its events in order, closed last', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const stream = session.events();
      const cells = await Promise.all(
        ['a', 'b'].map((name) => session.execute({ source: `for (let i = 0; i < 20; i++) text("${name}" + i)` })),
      );
      await Promise.all(cells.map((cell) => cell.initialEvent));
      const seen: SessionStreamEvent[] = [];
      const closed = new Set<string>();
      for await (const event of stream) {
        seen.push(event);
        if (event.type === 'closed') closed.add(event.cellId);
        if (closed.size === 2) break;
      }
      for (const [i, { cellId }] of cells.entries()) {
        const own = seen.filter((event) => 'cellId' in event && event.cellId === cellId);
        assert.equal(own[0]?.type, 'admitted');
        assert.equal(own.at(-1)?.type, 'closed');
        const name = i === 0 ? 'a' : 'b';
        assert.deepEqual(
          own.flatMap((event) => textOf(event) ?? []),
          Array.from({ length: 20 }, (_, n) => `${name}${n}`),
        );
      }
    });

    test("events(cellId, { from: 'start' }) replays the cell from its admission, for any subscriber, after the first one read it all", async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const { cellId, initialEvent } = await session.execute({
        source: 'for (let i = 0; i < 10; i++) text(String(i))',
      });
      const first = all(session.events(cellId));
      await initialEvent;
      assert.equal((await first).filter((event) => event.type === 'output').length, 10);
      const replay = await all(session.events(cellId, { from: 'start' }));
      assert.deepEqual(
        replay.flatMap((event) => textOf(event) ?? []),
        Array.from({ length: 10 }, (_, i) => String(i)),
      );
      assert.equal(replay.at(-1)?.type, 'closed');
      assert.throws(() => session.events(cellId, { from: 'yesterday' } as never), { code: 'ERR_INVALID_REQUEST' });
    });

    test('a replay beyond the kept log begins with one gap event counting what was dropped', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const total = 1_500;
      const { cellId, initialEvent } = await session.execute({
        source: `for (let i = 0; i < ${total}; i++) text(String(i))`,
      });
      await initialEvent;
      const replay = await all(session.events(cellId, { from: 'start' }));
      const [gap, ...rest] = replay;
      assert.equal(gap?.type, 'gap');
      const outputs = rest.flatMap((event) => textOf(event) ?? []).map(Number);
      // At most the newest 1 024 events are kept, and the cell's closed event last.
      const kept = rest.filter((event) => event.type !== 'closed').length;
      assert.ok(kept <= 1_024 && kept >= 1_023, `${kept} events kept`);
      assert.equal(rest.at(-1)?.type, 'closed');
      assert.equal(
        (gap as { dropped: number }).dropped,
        total - outputs.length,
        'the gap counts exactly the outputs missing',
      );
      assert.deepEqual(
        outputs,
        Array.from({ length: outputs.length }, (_, i) => total - outputs.length + i),
        'the newest ones, in order',
      );
    });

    test('a live cell stream handed off at random points, 10 times: every event exactly once, in order', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      for (let trial = 0; trial < 10; trial++) {
        // Paced a little, so the stream is live while it is handed off; the output starts once the
        // subscription is in place (what comes before it is held up to the router's 128).
        const source =
          'await new Promise((r) => setTimeout(r, 20)); for (let i = 0; i < 10000; i++) { text(String(i)); if (i % 1000 === 999) await new Promise((r) => setTimeout(r, 1)) }';
        const { cellId } = await session.execute({ source }, { kind: 'yieldAfter', ms: 0 });
        const first: HandOffStream<CellStreamEvent> = session.events(cellId);
        const before = await take(first, random(10_000));
        const after = await all(first.handOff());
        const seen = [...before, ...after].flatMap((event) => textOf(event) ?? []).map(Number);
        assert.equal(seen.length, 10_000, `trial ${trial}`);
        assert.ok(
          seen.every((value, i) => value === i),
          `trial ${trial}: out of order or duplicated`,
        );
        await session.observe(cellId, { kind: 'yieldAfter', ms: 60_000 }).catch(() => {});
      }
    });

    test('readText() gives the text output until the cell ends, one item per line', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const started = await session.execute({
        source: 'text("first"); notify("ignored"); await new Promise((r) => setTimeout(r, 20)); text("second")',
      });
      assert.equal(await started.readText(), 'first\nsecond');
      assert.equal((await started.initialEvent).kind, 'completed');
      assert.equal(await started.readText(), 'first\nsecond', 'again, after the cell closed');
    });

    test('readText() of a cell that printed more than its log keeps says so in a final line', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const started = await session.execute({ source: 'for (let i = 0; i < 2000; i++) text(String(i))' });
      await started.initialEvent;
      const lines = (await started.readText()).split('\n');
      assert.equal(lines.at(-2), '1999', 'the newest output is kept');
      assert.match(
        lines.at(-1) ?? '',
        /^\[readText: the cell's \d+ oldest events were no longer kept; the text above is the newest part of its output\]$/,
      );
      assert.ok(lines.length < 2000);
    });
  });
}

/** A session on one spawned codecell-host (closed after the test). */
async function oneHost(t: TestContext, options: { rehome?: false } = {}) {
  const client = await HostClient.spawn({
    command: HOST_BIN,
    args: [],
    processes: 1,
    ...options,
    logger: capturingLogger(),
    stderr: 'ignore',
  });
  t.after(() => client.close());
  return { client, session: await client.createSession(new RecordingDelegate()) };
}

/** A cell that prints "before" and waits for good, its stream followed past that output. */
async function followedCell(session: RemoteSession) {
  const { cellId } = await session.execute(
    { source: 'text("before"); await new Promise(() => {})' },
    { kind: 'yieldAfter', ms: 0 },
  );
  const cellStream = session.events(cellId);
  assert.equal(textOf((await cellStream.next()).value as CellStreamEvent), 'before');
  return { cellId, cellStream };
}

describe('a remote stream whose host dies', () => {
  test('fails with ERR_HOST_EXITED instead of ending, for a cell stream and the session stream', async (t) => {
    const { client, session } = await oneHost(t, { rehome: false });
    const sessionStream = session.events();
    const { cellId, cellStream } = await followedCell(session);
    process.kill(client.pid ?? 0, 'SIGKILL');
    await assert.rejects(all(cellStream), { code: 'ERR_HOST_EXITED' });
    await assert.rejects(all(sessionStream), { code: 'ERR_HOST_EXITED' });
    assert.throws(() => session.events(cellId), { code: 'ERR_HOST_EXITED' });
  });

  test('a shut-down session ends its streams normally', async (t) => {
    const { session } = await oneHost(t);
    const sessionStream = session.events();
    await session.execute({ source: 'await new Promise(() => {})' }, { kind: 'yieldAfter', ms: 0 });
    await session.shutdown();
    const events = await all(sessionStream);
    assert.equal(events[0]?.type, 'admitted');
  });

  test('client.close() ends the streams of its sessions normally: its host did not fail', async (t) => {
    const { client, session } = await oneHost(t);
    const sessionStream = session.events();
    const { cellStream } = await followedCell(session);
    await client.close();
    await all(cellStream);
    const events = await all(sessionStream);
    assert.equal(events[0]?.type, 'admitted');
  });
});

test('a relayed gap counts for what it stands for: dropped or met behind the gap due, its count is kept', async () => {
  type Event = { gap?: number; n?: number };
  const bound = {
    events: 3,
    bytes: 1_000_000,
    sizeOf: () => 1,
    gap: (dropped: number): Event => ({ gap: dropped }),
    dropsIn: (event: Event) => event.gap,
  };
  const stream = new EventStream<Event>({ replace: () => {}, remove: () => {} }, () => false, bound);
  // Upstream already dropped 10 before n: 1; then this stream drops the oldest past 3.
  for (const event of [{ n: 0 }, { gap: 10 }, { n: 1 }, { n: 2 }, { n: 3 }]) stream.push(event);
  const read: Event[] = [];
  for (let i = 0; i < 4; i++) read.push((await stream.next()).value as Event);
  // n: 0 and the upstream gap of 10 were dropped here: one gap of 11, then the newest three.
  assert.deepEqual(read, [{ gap: 11 }, { n: 1 }, { n: 2 }, { n: 3 }]);
  // A gap met right behind the gap due joins it.
  const joined = new EventStream<Event>({ replace: () => {}, remove: () => {} }, () => false, bound);
  for (const event of [{ n: 0 }, { n: 1 }, { gap: 5 }, { n: 2 }, { n: 3 }]) joined.push(event);
  const next: Event[] = [];
  for (let i = 0; i < 3; i++) next.push((await joined.next()).value as Event);
  assert.deepEqual(next, [{ gap: 7 }, { n: 2 }, { n: 3 }]);
});
