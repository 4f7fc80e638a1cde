// Issue 54 (SPEC §14): what tracing costs. In one process, in interleaved rounds, the sequential
// tool round trip and cells/s of an in-process session with no OpenTelemetry SDK registered
// (tracing off: one non-recording span per cell), and with the SDK, the async-hooks context
// manager and a BatchSpanProcessor whose exporter drops the batches (the SDK's own work, without
// a collector's). Ratios: on against off.
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ResultRow } from './common.js';
import { interleaved } from './session-ab.js';

const OFF = 'tracing off (no SDK)';
const ON = 'tracing on (SDK, batch processor)';

/** An exporter that takes each batch and drops it: the SDK's cost without a collector's. */
const dropping: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: () => Promise.resolve(),
};

/** Registers the SDK globally until the returned function unregisters it (flushing its batches). */
function tracingOn(): () => Promise<void> {
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(dropping, { maxQueueSize: 4_096, scheduledDelayMillis: 50 })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  return async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
  };
}

export async function tracing(quick: boolean): Promise<ResultRow[]> {
  const round = { calls: quick ? 200 : 2_000, cells: quick ? 5 : 50 };
  return interleaved('tracing', { off: OFF, on: ON }, quick, () => round, tracingOn);
}
