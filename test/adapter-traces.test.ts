// Issue 54, item 4 (SPEC §14): the adapters join their framework's own tracing. With the AI SDK's
// OpenTelemetry integration (@ai-sdk/otel), the exec tool runs inside the SDK's tool span, so the
// cell's span is that span's child and the cell's tool calls its grandchildren, one trace. In an
// OpenAI Agents SDK trace, each exec and wait is a custom span under the tool's function span,
// with the cell's id and status.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { OpenTelemetry } from '@ai-sdk/otel';
import {
  Agent,
  run,
  setTraceProcessors,
  setTracingDisabled,
  type Span as AgentsSpan,
  type TracingProcessor,
} from '@openai/agents';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { generateText, isStepCount } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { codeModeTools as aiSdkTools } from '../adapters/ai-sdk.js';
import { codeModeTools as agentsTools } from '../adapters/openai-agents.js';
import { SessionBuilder } from '../host/index.js';
import { agentsModel, agentsText, agentsToolCall, aiSdkText, aiSdkToolCall, recordSpans } from './framework-helpers.js';
import { capturingLogger } from './helpers.js';

const CELL = 'text("sum " + (await tools.add({ a: 2, b: 3 })))';
const ADD = {
  name: 'add',
  inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
};

async function session(t: TestContext) {
  const started = await new SessionBuilder({ logger: capturingLogger() })
    .withTools([ADD], {
      invokeTool: async (call) => {
        const { a, b } = call.input as { a: number; b: number };
        return a + b;
      },
    })
    .start();
  t.after(() => started.shutdown());
  return started;
}

const idOf = (span: ReadableSpan | undefined): string | undefined => span?.spanContext().spanId;
const parentOf = (span: ReadableSpan | undefined): string | undefined => span?.parentSpanContext?.spanId;

describe('the adapters join their framework’s tracing (SPEC §14)', { timeout: 60_000 }, () => {
  test('AI SDK with @ai-sdk/otel: its tool span → the cell span → the cell’s tool call span, one trace', async (t) => {
    const exporter = recordSpans(t);
    const cells = await session(t);
    let step = 0;
    const model = new MockLanguageModelV4({
      doGenerate: async () =>
        ++step === 1
          ? aiSdkToolCall('c1', 'exec', { source: CELL, language: null, yield_time_ms: 10_000 })
          : aiSdkText('done'),
    });
    const result = await generateText({
      model,
      tools: aiSdkTools(cells),
      prompt: 'add 2 and 3 in a cell',
      stopWhen: isStepCount(2),
      telemetry: { integrations: [new OpenTelemetry()] },
    });
    assert.equal(result.text, 'done');
    const spans = exporter.getFinishedSpans();
    const cell = spans.find((span) => span.name === 'codecell.cell');
    const call = spans.find((span) => span.name === 'execute_tool add');
    assert.ok(cell !== undefined && call !== undefined, spans.map((span) => span.name).join(', '));
    // The cell's parent is the AI SDK's span of the exec tool call.
    const parent = spans.find((span) => idOf(span) === parentOf(cell));
    assert.ok(parent !== undefined, `the cell span's parent was not exported: ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(parent.attributes['gen_ai.tool.name'] ?? parent.attributes['ai.toolCall.name'], 'exec');
    assert.equal(parentOf(call), idOf(cell));
    const traceIds = new Set([parent, cell, call].map((span) => span.spanContext().traceId));
    assert.equal(traceIds.size, 1);
    assert.equal(cell.attributes['codecell.cell.outcome'], 'completed');
  });

  test('OpenAI Agents SDK: exec is a custom span `codecell exec` under the function span, with the cell', async (t) => {
    const ended: AgentsSpan<never>[] = [];
    const processor: TracingProcessor = {
      onTraceStart: async () => {},
      onTraceEnd: async () => {},
      onSpanStart: async () => {},
      onSpanEnd: async (span) => void ended.push(span as AgentsSpan<never>),
      shutdown: async () => {},
      forceFlush: async () => {},
    };
    setTraceProcessors([processor]);
    setTracingDisabled(false);
    t.after(() => {
      setTraceProcessors([]);
      setTracingDisabled(true);
    });
    const cells = await session(t);
    const model = agentsModel((n) =>
      n === 1
        ? agentsToolCall('c1', 'exec', { source: CELL, language: null, yield_time_ms: 10_000 })
        : agentsText('done'),
    );
    const agent = new Agent({ name: 'coder', instructions: 'Use exec.', model, tools: agentsTools(cells) });
    const result = await run(agent, 'add 2 and 3 in a cell');
    assert.equal(result.finalOutput, 'done');
    const data = (span: AgentsSpan<never>) =>
      span.spanData as { type: string; name?: string; data?: Record<string, unknown> };
    const custom = ended.find((span) => data(span).type === 'custom' && data(span).name === 'codecell exec');
    const fn = ended.find((span) => data(span).type === 'function' && data(span).name === 'exec');
    assert.ok(
      custom !== undefined && fn !== undefined,
      ended.map((span) => `${data(span).type}:${data(span).name}`).join(', '),
    );
    assert.equal(custom.parentId, fn.spanId);
    assert.equal(custom.traceId, fn.traceId);
    assert.deepEqual(data(custom).data, { 'codecell.cell.id': '1', 'codecell.cell.status': 'completed' });
  });
});
