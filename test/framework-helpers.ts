// What the framework tests share: the OpenTelemetry SDK registered with an in-memory exporter for
// one test, the AI SDK mock model and its answers (a tool call, or text), and a fake Agents SDK model.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { MockLanguageModelV4 } from 'ai/test';
import { Usage, type Model, type ModelRequest, type ModelResponse } from '@openai/agents';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** Registers the SDK with an in-memory exporter and the async-hooks context manager until `t` ends. */
export function recordSpans(t: TestContext): InMemorySpanExporter {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  assert.ok(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()));
  assert.ok(trace.setGlobalTracerProvider(provider));
  t.after(() => {
    trace.disable();
    context.disable();
  });
  return exporter;
}

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
};

/** A mock model step (AI SDK, MockLanguageModelV4) that calls one tool with `input`. */
export function aiSdkToolCall(toolCallId: string, toolName: string, input: unknown) {
  return {
    content: [{ type: 'tool-call' as const, toolCallId, toolName, input: JSON.stringify(input) }],
    finishReason: { unified: 'tool-calls' as const, raw: undefined },
    usage,
    warnings: [],
  };
}

/** A mock model step (AI SDK) that answers with text and stops. */
export function aiSdkText(text: string) {
  return {
    content: [{ type: 'text' as const, text }],
    finishReason: { unified: 'stop' as const, raw: undefined },
    usage,
    warnings: [],
  };
}

/**
 * The AI SDK's own mock model (MockLanguageModelV4): `step(n, prompt)` gives the n-th response
 * (n from 1), e.g. aiSdkToolCall(...) or aiSdkText(...).
 */
export function aiSdkModel(
  step: (n: number, prompt: unknown) => ReturnType<typeof aiSdkToolCall> | ReturnType<typeof aiSdkText>,
): MockLanguageModelV4 {
  let n = 0;
  return new MockLanguageModelV4({ doGenerate: async ({ prompt }) => step(++n, prompt) });
}

/**
 * A fake OpenAI Agents SDK Model: `step(n, request)` gives the n-th response's output (n from 1),
 * e.g. agentsToolCall(...) or agentsText(...).
 */
export function agentsModel(step: (n: number, request: ModelRequest) => ModelResponse['output']): Model {
  let n = 0;
  return {
    getResponse: async (request) => {
      n++;
      return { usage: new Usage(), output: step(n, request), responseId: `r${n}` };
    },
    getStreamedResponse: () => {
      throw new Error('not streamed in these tests');
    },
  };
}

/** An Agents SDK model output that calls one function tool with `args`. */
export function agentsToolCall(callId: string, name: string, args: unknown): ModelResponse['output'] {
  return [{ type: 'function_call', callId, name, arguments: JSON.stringify(args), status: 'completed' }];
}

/** An Agents SDK model output that answers with text. */
export function agentsText(text: string): ModelResponse['output'] {
  return [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text }] }];
}
