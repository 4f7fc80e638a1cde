import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CellStreamEvent } from '../src/index.js';
import { capturingLogger, newRuntime, RecordingDelegate } from './helpers.js';

async function collect(stream: AsyncIterable<CellStreamEvent>): Promise<CellStreamEvent[]> {
  const events: CellStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

test('events() right after execute sees the first output, then tool and notification events in order, then closed', async (t) => {
  const delegate = new RecordingDelegate({
    add: () => 3,
    fail: () => {
      throw new Error('nope');
    },
  });
  const runtime = newRuntime(t, delegate, { tools: [{ name: 'add' }, { name: 'fail' }] });
  const { cellId, initialEvent } = await runtime.execute({
    source:
      'text("first"); const r = await tools.add({a:1}); notify("got " + r); try { await tools.fail() } catch {} text("last")',
  });
  const events = await collect(runtime.events(cellId));
  const completed = await initialEvent;
  assert.deepEqual(events, [
    { type: 'output', item: { type: 'text', text: 'first' } },
    { type: 'toolCall', callId: 'tool-1', tool: { name: 'add' }, input: { a: 1 } },
    { type: 'toolResult', callId: 'tool-1', ok: true },
    { type: 'notification', text: 'got 3' },
    { type: 'toolCall', callId: 'tool-2', tool: { name: 'fail' }, input: {} },
    { type: 'toolResult', callId: 'tool-2', ok: false, error: 'nope' },
    { type: 'output', item: { type: 'text', text: 'last' } },
    { type: 'closed', event: completed },
  ]);
});

test('the stream is a tap: it never drains the observe buffer', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'text("a"); text("b")' },
    { kind: 'yieldAfter', ms: 60_000 },
  );
  const events = await collect(runtime.events(cellId));
  assert.equal(events.filter((e) => e.type === 'output').length, 2);
  assert.deepEqual((await initialEvent).items.length, 2);
});

test('a cell that emits 200 events before anyone subscribes gives the subscriber the newest 128, with one warning', async (t) => {
  const logger = capturingLogger();
  const runtime = newRuntime(t, new RecordingDelegate(), { logger });
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'for (let i = 0; i < 200; i++) text("e" + i); await new Promise(r => setTimeout(r, 50))' },
    { kind: 'pendingFrontier' },
  );
  await initialEvent;
  const stream = collect(runtime.events(cellId));
  // The stream closes once the completion was taken by an observer.
  assert.equal((await runtime.observe(cellId, { kind: 'yieldAfter', ms: 60_000 })).kind, 'completed');
  const events = await stream;
  const outputs = events.filter((e) => e.type === 'output');
  assert.equal(outputs.length, 128);
  assert.deepEqual(outputs[0], { type: 'output', item: { type: 'text', text: 'e72' } });
  assert.equal(events.at(-1)?.type, 'closed');
  assert.deepEqual(logger.warnings, [
    `codecell: cell ${cellId} lost its 72 oldest held notification(s) (pending session buffer overflow)`,
  ]);
});

test('events() of an unknown cell throws ERR_MISSING_CELL', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  assert.throws(() => runtime.events('404'), { code: 'ERR_MISSING_CELL' });
});

test('a second subscriber sees events from its subscription on', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const { cellId, initialEvent } = await runtime.execute(
    { source: 'text("a"); await new Promise(r => setTimeout(r, 30)); text("b")' },
    { kind: 'pendingFrontier' },
  );
  const first = collect(runtime.events(cellId));
  await initialEvent;
  const second = collect(runtime.events(cellId));
  void runtime.observe(cellId, { kind: 'yieldAfter', ms: 60_000 });
  const [a, b] = await Promise.all([first, second]);
  assert.deepEqual(a.filter((e) => e.type === 'output').length, 2);
  assert.deepEqual(
    b.map((e) => e.type),
    ['output', 'closed'],
  );
});

test('a subscriber that stops early does not block the cell', async (t) => {
  const runtime = newRuntime(t, new RecordingDelegate());
  const { cellId, initialEvent } = await runtime.execute({
    source: 'text("a"); await new Promise(r => setTimeout(r, 20)); text("b")',
  });
  for await (const event of runtime.events(cellId)) {
    assert.equal(event.type, 'output');
    break;
  }
  assert.equal((await initialEvent).kind, 'completed');
});
