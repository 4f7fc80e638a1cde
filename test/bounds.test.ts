// Issue 30: every buffer that a cell, a peer or a slow reader can grow has a bound in count and
// bytes (docs/architecture.md lists them). In-process and through HostClient.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CellStreamEvent } from '../src/index.js';
import { CLOSED_ITEMS_BYTES } from '../src/streams/cell-streams.js';
import { RecordingDelegate, waitFor } from './helpers.js';
import { bothKinds } from './sessions.js';

for (const kind of bothKinds) {
  describe(`${kind.name}: bounds`, () => {
    test("a tool's 100 MB error message reaches the cell cut to maxToolErrorBytes, as a catchable rejection", async (t) => {
      const huge = 'E'.repeat(100_000_000);
      const session = await kind.open(
        t,
        new RecordingDelegate({
          huge: () => {
            throw new Error(huge);
          },
          chained: () => {
            throw new Error('outer', { cause: new Error('middle', { cause: new TypeError('inner') }) });
          },
        }),
        { tools: [{ name: 'huge' }, { name: 'chained' }] },
      );
      const started = await session.execute({
        source:
          'try { await tools.huge() } catch (e) { text(e.message.length); text(e.message.slice(-80)) }\n' +
          'try { await tools.chained() } catch (e) { text(e.message) }',
      });
      const event = await started.initialEvent;
      assert.equal(event.kind, 'completed');
      const [length, tail, chained] = event.items.map((item) => (item.type === 'text' ? item.text : ''));
      assert.ok(Number(length) <= 65_536 && Number(length) > 60_000, `${length} characters reached the cell`);
      assert.match(tail ?? '', /\[cut: \d+ bytes, over the maxToolErrorBytes limit of 65536\]$/);
      assert.equal(chained, 'outer\nCaused by: middle\nCaused by: inner');
    });

    test('maxToolErrorBytes is a limit of its own, set per session or per cell', async (t) => {
      const session = await kind.open(
        t,
        new RecordingDelegate({
          long: () => {
            throw new Error('x'.repeat(5_000));
          },
        }),
        { tools: [{ name: 'long' }], limits: { maxToolErrorBytes: 1_000 } },
      );
      const run = async (limits?: { maxToolErrorBytes: number }) => {
        const started = await session.execute({
          source: 'try { await tools.long() } catch (e) { text(e.message.length) }',
          ...(limits === undefined ? {} : { limits }),
        });
        const event = await started.initialEvent;
        return Number(event.items[0]?.type === 'text' ? event.items[0].text : NaN);
      };
      assert.ok((await run()) <= 1_000);
      assert.equal(await run({ maxToolErrorBytes: 10_000 }), 5_000);
    });

    test('a closed cell keeps a bounded summary of its output, behind a note', async (t) => {
      const delegate = new RecordingDelegate();
      const session = await kind.open(t, delegate);
      const started = await session.execute({
        source: 'for (let i = 0; i < 200; i++) text(String(i).padEnd(10_000, "."))',
      });
      assert.equal((await started.initialEvent).kind, 'completed');
      await waitFor(() => delegate.closed.includes(started.cellId));
      // Nobody subscribed before it closed: what is kept of it is bounded.
      const events: CellStreamEvent[] = [];
      for await (const event of session.events(started.cellId)) events.push(event);
      const closed = events.at(-1);
      assert.equal(closed?.type, 'closed');
      const items = closed?.type === 'closed' ? closed.event.items : [];
      const kept = items.slice(1).reduce((sum, item) => sum + (item.type === 'text' ? item.text.length : 0), 0);
      assert.ok(kept <= CLOSED_ITEMS_BYTES, `${kept} bytes kept`);
      assert.match(
        items[0]?.type === 'text' ? items[0].text : '',
        /^\[\d+ earlier output item\(s\) of this event are not kept\]$/,
      );
      const last = items.at(-1);
      assert.equal(last?.type === 'text' ? last.text.slice(0, 3) : '', '199', 'the newest items are the ones kept');
    });

    test('a subscriber that does not read loses the oldest events behind one gap event, and keeps the order', async (t) => {
      const delegate = new RecordingDelegate();
      const session = await kind.open(t, delegate);
      const { cellId, initialEvent } = await session.execute(
        { source: 'await new Promise((r) => setTimeout(r, 20)); for (let i = 0; i < 15000; i++) text(String(i))' },
        { kind: 'yieldAfter', ms: 0 },
      );
      const stream = session.events(cellId);
      await initialEvent;
      await session.observe(cellId, { kind: 'yieldAfter', ms: 30_000 }); // the cell is done; nothing was read
      // Over the wire the events may still be on their way: the reader starts once the client has
      // heard the cell closed (after its events), so it does not read them as they arrive.
      await waitFor(() => delegate.closed.includes(cellId));
      const events: CellStreamEvent[] = [];
      for await (const event of stream) events.push(event);
      // What was dropped is said by gap events: one in-process. Over the wire each stream on the
      // way may say so in its place (the host's replay log, the host's relay, which reads a turn
      // of the loop at a time, and the client's own stream, which a reader may start on while the
      // relay still sends); gaps next to each other are one.
      const dropped = events.reduce((sum, event) => sum + (event.type === 'gap' ? event.dropped : 0), 0);
      const shape = shapeOf(events);
      const gaps = events.filter((event) => event.type === 'gap').length;
      assert.ok(dropped > 0 && gaps <= (kind.name.startsWith('in-process') ? 1 : 3), shape);
      assert.ok(!/gap\(\d+\) gap/.test(shape), `gaps next to each other: ${shape}`);
      const outputs = events.flatMap((event) =>
        event.type === 'output' && event.item.type === 'text' ? [Number(event.item.text)] : [],
      );
      // The stream's bound (10 000); over the wire what the host's relay had handed on before its
      // own stream dropped (it reads a turn of the loop at a time) is held by the client's too.
      assert.ok(outputs.length <= (kind.name.startsWith('in-process') ? 10_000 : 20_000), `${outputs.length} kept`);
      assert.equal(dropped + outputs.length, 15_000, `the gaps count what was dropped: ${shape}`);
      // Kept in order, the newest among them.
      assert.ok(
        outputs.every((value, i) => i === 0 || value > (outputs[i - 1] as number)),
        shape,
      );
      assert.equal(outputs.at(-1), 14_999, shape);
      if (kind.name.startsWith('in-process')) assert.equal(events[0]?.type, 'gap', 'in-process the oldest go');
    });

    test('tool calls in flight hold a bounded amount of input: past it a call is refused with a clear message', async (t) => {
      const session = await kind.open(t, new RecordingDelegate({ hang: () => new Promise(() => {}) }), {
        tools: [{ name: 'hang' }],
        limits: { maxToolInputBytes: 1_000, maxConcurrentToolCalls: 1 },
      });
      const source =
        'const input = { s: "x".repeat(900) }; tools.hang(input); tools.hang(input); try { await tools.hang(input) } catch (e) { text(e.message) }';
      const event = await (await session.execute({ source }, { kind: 'pendingFrontier' })).initialEvent;
      assert.match(
        event.items[0]?.type === 'text' ? event.items[0].text : '',
        /^tools\.hang refused: this cell's tool calls in flight already hold \d+ bytes of input \(at most 2000: 2 × maxConcurrentToolCalls × maxToolInputBytes\)$/,
      );
    });
  });
}

/** A stream's events in short, for a failure's message: `output×3011 gap(1990) output×9999 closed`. */
function shapeOf(events: CellStreamEvent[]): string {
  const parts: string[] = [];
  let run = 0;
  for (const event of events) {
    if (event.type === 'output') {
      run++;
      continue;
    }
    if (run > 0) parts.push(`output×${run}`);
    run = 0;
    parts.push(event.type === 'gap' ? `gap(${event.dropped})` : event.type);
  }
  if (run > 0) parts.push(`output×${run}`);
  return parts.join(' ');
}
