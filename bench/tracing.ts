// Issue 54 (SPEC §14): what tracing costs. In one process, in interleaved rounds, the sequential
// tool round trip and cells/s of an in-process session with no OpenTelemetry SDK registered
// (tracing off: one non-recording span per cell), and with the SDK, the async-hooks context
// manager and a BatchSpanProcessor whose exporter drops the batches (the SDK's own work, without
// a collector's). Ratios: on against off.
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { SessionRuntime } from '../src/index.js';
import { check, quietLogger, Samples, sequentialCalls, withRatio, type ResultRow } from './common.js';

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

async function measure(mode: string, samples: Samples, calls: number, cells: number): Promise<void> {
  const session = new SessionRuntime(
    { invokeTool: async (call) => call.input ?? null, notify: async () => {} },
    { tools: [{ name: 'echo' }], logger: quietLogger },
  );
  try {
    const cell = sequentialCalls(calls);
    const start = performance.now();
    const event = await (await session.execute({ source: cell.source })).initialEvent;
    const elapsed = performance.now() - start;
    check(event.kind === 'completed' && event.items[0]?.type === 'text', `${mode}: ${JSON.stringify(event)}`);
    samples.add(`tracing: sequential tool round trip, ${mode}`, 'us', [(elapsed * 1_000) / calls]);
    const cellsStart = performance.now();
    for (let i = 0; i < cells; i++) {
      const started = await session.execute({ source: 'text(await tools.echo({ i: 1 }))' });
      await started.initialEvent;
    }
    const cellsPerSecond = cells / ((performance.now() - cellsStart) / 1_000);
    samples.add(`tracing: cells/s (one tool call each), ${mode}`, 'cells/s', [cellsPerSecond]);
  } finally {
    await session.shutdown();
  }
}

export async function tracing(quick: boolean): Promise<ResultRow[]> {
  const samples = new Samples();
  const rounds = quick ? 2 : 7;
  const calls = quick ? 200 : 2_000;
  const cells = quick ? 20 : 200;
  await measure(OFF, new Samples(), calls, cells); // warm-up, not kept
  for (let round = 0; round < rounds; round++) {
    // Interleaved, and each round's order alternates: drift on a noisy machine falls on both.
    for (const on of round % 2 === 0 ? [false, true] : [true, false]) {
      const off = on ? tracingOn() : undefined;
      try {
        await measure(on ? ON : OFF, samples, calls, cells);
      } finally {
        await off?.();
      }
    }
  }
  const rows = samples.rows();
  withRatio(rows, `tracing: sequential tool round trip, ${ON}`, `tracing: sequential tool round trip, ${OFF}`);
  withRatio(rows, `tracing: cells/s (one tool call each), ${ON}`, `tracing: cells/s (one tool call each), ${OFF}`);
  return rows;
}
