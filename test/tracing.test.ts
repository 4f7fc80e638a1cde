// Issue 54, item 1 (SPEC §14): with the OpenTelemetry SDK registered, a cell is a span under the
// caller's active span, each tool call an `execute_tool <name>` span under the cell's, and the
// delegate's own spans are children of its tool call's; a tool abandoned at the shared deadline
// is marked so. Without an SDK nothing is recorded and cells run as before.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { CellInterrupt } from '../src/index.js';
import { recordSpans } from './framework-helpers.js';
import { HostClient } from '../host/index.js';
import { capturingLogger, hang, newRuntime, RecordingDelegate, texts, waitFor } from './helpers.js';
import { networkHost } from './sessions.js';

const TOOLS = [{ name: 'lookup' }, { name: 'stuck' }, { name: 'approve' }];

/** The spans by name; each name once (the test's own spans are named apart). */
function byName(spans: readonly ReadableSpan[]): Map<string, ReadableSpan[]> {
  const names = new Map<string, ReadableSpan[]>();
  for (const span of spans) names.set(span.name, [...(names.get(span.name) ?? []), span]);
  return names;
}

/** A delegate whose lookup makes a span of its own (`impl lookup`) and answers 7. */
function lookingUp(tracer: ReturnType<typeof trace.getTracer>): RecordingDelegate {
  return new RecordingDelegate({
    lookup: () =>
      tracer.startActiveSpan('impl lookup', (span) => {
        span.end();
        return 7;
      }),
  });
}

const parentId = (span: ReadableSpan | undefined): string | undefined => span?.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan | undefined): string | undefined => span?.spanContext().spanId;

describe('traces (SPEC §14)', { timeout: 60_000 }, () => {
  test('without an SDK, nothing is recorded and the cell runs as ever', async (t) => {
    const session = newRuntime(t, new RecordingDelegate({ lookup: () => 1 }), { tools: TOOLS });
    const started = await session.execute({ source: 'text(await tools.lookup({}))' });
    assert.deepEqual(texts(await started.initialEvent), ['1']);
  });

  test('agent span → cell span → tool call spans → the delegate’s own spans, one trace', async (t) => {
    const exporter = recordSpans(t);
    const tracer = trace.getTracer('agent-test');
    const delegate = new RecordingDelegate({
      // The tool's implementation makes a span of its own: it must be the tool call's child.
      lookup: (call) =>
        tracer.startActiveSpan(`impl ${String((call.input as { q: string }).q)}`, (span) => {
          span.end();
          return (call.input as { q: string }).q.toUpperCase();
        }),
      stuck: () => hang(),
      approve: () => {
        throw new CellInterrupt({ ask: 'ship?' });
      },
    });
    delegate.notifyHandler = () => {
      tracer.startSpan('impl notify').end();
    };
    const session = newRuntime(t, delegate, { tools: TOOLS, callbackAbortDeadlineMs: 50 });
    const agent = tracer.startSpan('agent turn');
    const started = await context.with(trace.setSpan(context.active(), agent), () =>
      session.execute({
        source: `notify('working');
          const [a, b] = await Promise.all([tools.lookup({ q: 'a' }), tools.lookup({ q: 'b' })]);
          text(a + b);`,
      }),
    );
    assert.deepEqual(texts(await started.initialEvent), ['AB']);
    agent.end();
    await waitFor(() => byName(exporter.getFinishedSpans()).has('codecell.notify'));

    const spans = byName(exporter.getFinishedSpans());
    const cell = spans.get('codecell.cell')?.[0];
    assert.ok(cell, 'the cell has a span');
    assert.equal(parentId(cell), idOf(agent as unknown as ReadableSpan), 'the cell span is a child of the agent’s');
    assert.equal(cell.attributes['codecell.cell.id'], '1');
    assert.equal(cell.attributes['codecell.cell.outcome'], 'completed');
    const calls = spans.get('execute_tool lookup') ?? [];
    assert.equal(calls.length, 2);
    for (const call of calls) {
      assert.equal(parentId(call), idOf(cell), 'a tool call span is a child of its cell’s');
      assert.equal(call.attributes['gen_ai.operation.name'], 'execute_tool');
      assert.equal(call.attributes['gen_ai.tool.name'], 'lookup');
      assert.match(String(call.attributes['gen_ai.tool.call.id']), /^tool-[12]$/);
      assert.equal(call.attributes['codecell.outcome'], 'returned');
    }
    for (const q of ['a', 'b']) {
      const impl = spans.get(`impl ${q}`)?.[0];
      const call = calls.find((each) => parentId(impl) === idOf(each));
      assert.ok(call, `the delegate's span for ${q} is a child of a tool call span`);
    }
    const notify = spans.get('codecell.notify')?.[0];
    assert.equal(parentId(notify), idOf(cell));
    assert.equal(parentId(spans.get('impl notify')?.[0]), idOf(notify));
    const traceIds = new Set(exporter.getFinishedSpans().map((span) => span.spanContext().traceId));
    assert.equal(traceIds.size, 1, 'one trace');

    // A tool that ignores its signal, cut at the shared deadline by terminate.
    exporter.reset();
    const stuck = await session.execute({ source: 'await tools.stuck({})' });
    await waitFor(() => delegate.calls.some((call) => call.tool.name === 'stuck'));
    const ended = await session.terminate(stuck.cellId);
    assert.equal(ended.kind, 'terminated');
    await waitFor(() => byName(exporter.getFinishedSpans()).has('execute_tool stuck'));
    const abandoned = byName(exporter.getFinishedSpans());
    const stuckCall = abandoned.get('execute_tool stuck')?.[0];
    assert.equal(stuckCall?.attributes['codecell.deadline_aborted'], true);
    assert.equal(abandoned.get('codecell.terminate')?.length, 1);
    assert.equal(abandoned.get('codecell.cell')?.[0]?.attributes['codecell.cell.reason'], 'requested');

    // A paused cell's run ends its span; resumeCell's run is a span of its own.
    exporter.reset();
    const paused = await session.execute({ source: 'text(await tools.approve({}))' });
    assert.equal((await paused.initialEvent).kind, 'interrupted');
    await session.resumeCell(paused.cellId, { result: 'yes' });
    const runs = byName(exporter.getFinishedSpans()).get('codecell.cell') ?? [];
    assert.deepEqual(
      runs.map((span) => [span.attributes['codecell.cell.outcome'], span.attributes['codecell.cell.resumed']]),
      [
        ['interrupted', undefined],
        ['completed', true],
      ],
    );
  });

  test('across the wire (WebSocket): the client’s span → the host’s cell and tool spans → the delegate’s', async (t) => {
    const exporter = recordSpans(t);
    const tracer = trace.getTracer('agent-test');
    const delegate = lookingUp(tracer);
    const session = await networkHost.open(t, delegate, { tools: TOOLS });
    const agent = tracer.startSpan('agent turn');
    const started = await context.with(trace.setSpan(context.active(), agent), () =>
      session.execute({ source: 'text(await tools.lookup({}))' }),
    );
    assert.deepEqual(texts(await started.initialEvent), ['7']);
    agent.end();
    await waitFor(() => byName(exporter.getFinishedSpans()).has('codecell.cell'));
    const spans = byName(exporter.getFinishedSpans());
    const cell = spans.get('codecell.cell')?.[0];
    const call = spans.get('execute_tool lookup')?.[0];
    const impl = spans.get('impl lookup')?.[0];
    assert.equal(
      parentId(cell),
      idOf(agent as unknown as ReadableSpan),
      'the host’s cell span is a child of the agent’s',
    );
    assert.equal(parentId(call), idOf(cell));
    assert.equal(parentId(impl), idOf(call), 'the client’s delegate runs inside the host’s tool call span');
    assert.equal(new Set([cell, call, impl].map((span) => span?.spanContext().traceId)).size, 1, 'one trace');
  });

  test('a spawned host that records nothing carries the caller’s context: the delegate’s spans are its children', async (t) => {
    const exporter = recordSpans(t);
    const tracer = trace.getTracer('agent-test');
    const delegate = lookingUp(tracer);
    delegate.notifyHandler = () => tracer.startSpan('impl notify').end();
    // The host process has no SDK: it records and exports nothing.
    const client = await HostClient.spawn({ processes: 1, logger: capturingLogger() });
    t.after(() => client.close());
    const session = await client.createSession(delegate, { tools: TOOLS });
    const agent = tracer.startSpan('agent turn');
    const started = await context.with(trace.setSpan(context.active(), agent), () =>
      session.execute({ source: 'notify("on it"); text(await tools.lookup({}))' }),
    );
    assert.deepEqual(texts(await started.initialEvent), ['7']);
    agent.end();
    await waitFor(() => byName(exporter.getFinishedSpans()).has('impl notify'));
    const spans = byName(exporter.getFinishedSpans());
    assert.equal(spans.has('codecell.cell'), false, 'the host recorded nothing');
    for (const name of ['impl lookup', 'impl notify']) {
      const impl = spans.get(name)?.[0];
      assert.equal(parentId(impl), idOf(agent as unknown as ReadableSpan), `${name} is the agent span's child`);
      assert.equal(impl?.spanContext().traceId, agent.spanContext().traceId, 'one trace');
    }
  });
});
