// SPEC §14: every answer of codecell-host about a cell carries the host's own timing in `_meta`
// (queuedMs: its wait to be admitted; ranMs: its run since, its whole run once it closed), so a
// client without tracing sees where the time went. HostClient keeps it apart from the event.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectInProcess } from '../host/in-process.js';
import { capturingLogger, RecordingDelegate, waitFor } from './helpers.js';
import { rawHost, type WireMessage } from './wire.js';

/** A cell that keeps its isolate busy for at least 60 ms of the host's clock, then writes "done". */
const BUSY = 'const end = Date.now() + 60; while (Date.now() < end) {} text("done")';

function timingOf(value: unknown): { queuedMs: number; ranMs: number } {
  const meta = (value as { _meta?: unknown })._meta as { queuedMs?: unknown; ranMs?: unknown } | undefined;
  assert.ok(meta !== undefined, `no _meta in ${JSON.stringify(value)}`);
  assert.deepEqual(Object.keys(meta).sort(), ['queuedMs', 'ranMs']);
  assert.equal(typeof meta.queuedMs, 'number');
  assert.equal(typeof meta.ranMs, 'number');
  const timing = meta as { queuedMs: number; ranMs: number };
  assert.ok(timing.queuedMs >= 0 && Number.isFinite(timing.queuedMs), `queuedMs ${timing.queuedMs}`);
  assert.ok(timing.ranMs >= 0 && Number.isFinite(timing.ranMs), `ranMs ${timing.ranMs}`);
  return timing;
}

describe('the host’s timing on each answer about a cell (SPEC §14)', { timeout: 60_000 }, () => {
  test('on the wire: cell/execute, cell/initialEvent, cell/observe and cell/terminate carry _meta', async (t) => {
    const raw = await rawHost(t);
    await raw.call('initialize', { protocolVersion: 2 });
    const created = await raw.call('session/create', { tools: [{ name: 'wait' }] });
    const { sessionId } = created.result as { sessionId: string };

    const executed = await raw.call('cell/execute', {
      sessionId,
      request: { source: BUSY },
      observe: { kind: 'yieldAfter', ms: 10_000 },
    });
    const { cellId } = executed.result as { cellId: string };
    timingOf(executed.result);
    const initial = await raw.log.next(
      (m: WireMessage) => m.method === 'cell/initialEvent' && (m.params as { cellId?: string }).cellId === cellId,
    );
    const { event } = initial.params as { event: { kind: string } };
    assert.equal(event.kind, 'completed');
    // The cell kept its isolate busy for 60 ms of the host's clock: its run took at least that.
    const ended = timingOf(event);
    assert.ok(ended.ranMs >= 59, `ranMs ${ended.ranMs}`);

    // A cell waiting on its tool: its run time grows between two answers about it.
    const waiting = await raw.call('cell/execute', {
      sessionId,
      request: { source: 'await tools.wait({}); text("never")' },
      observe: { kind: 'yieldAfter', ms: 0 },
    });
    const waitingId = (waiting.result as { cellId: string }).cellId;
    await raw.log.next((m) => m.method === 'tool/invoke');
    const first = await raw.call('cell/observe', {
      sessionId,
      cellId: waitingId,
      mode: { kind: 'yieldAfter', ms: 20 },
    });
    const second = await raw.call('cell/observe', {
      sessionId,
      cellId: waitingId,
      mode: { kind: 'yieldAfter', ms: 20 },
    });
    assert.ok(timingOf(second.result).ranMs > timingOf(first.result).ranMs);
    const terminated = await raw.call('cell/terminate', { sessionId, cellId: waitingId });
    assert.equal((terminated.result as { kind: string }).kind, 'terminated');
    assert.ok(timingOf(terminated.result).ranMs >= timingOf(second.result).ranMs);
  });

  test('HostClient: hostTiming(cellId) has it, and the events it hands out are the runtime’s shape', async (t) => {
    const linked = await connectInProcess({ logger: capturingLogger() });
    t.after(() => linked.close());
    const session = await linked.client.createSession(new RecordingDelegate());
    const started = await session.execute({ source: BUSY }, { kind: 'yieldAfter', ms: 10_000 });
    const event = await started.initialEvent;
    assert.deepEqual(event, { kind: 'completed', cellId: started.cellId, items: [{ type: 'text', text: 'done' }] });
    await waitFor(() => (session.hostTiming(started.cellId)?.ranMs ?? 0) >= 59);
    const timing = session.hostTiming(started.cellId);
    assert.ok(timing !== undefined && timing.queuedMs >= 0);
    assert.equal(session.hostTiming('404'), undefined);
  });
});
