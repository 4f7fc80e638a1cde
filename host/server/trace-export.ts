// codecell-host's own trace export (SPEC §14): when `--otlp-endpoint <url>` is given or
// OTEL_TRACES_EXPORTER names `otlp`, the OpenTelemetry SDK is registered in the host process and
// its spans (cells, tool calls, …) go over OTLP/HTTP in batches from a bounded queue; stop()
// flushes what is left (the host calls it on exit, after a drain). The SDK packages are optional
// peers, loaded only then: a host that does not export never loads them.
import { CODECELL_VERSION, messageOf } from '../../src/internal.js';

/** Where spans go: the `--otlp-endpoint` base URL, or the standard OTEL_EXPORTER_OTLP_* variables. */
export interface TraceExportPlan {
  /** Base URL of the collector (`/v1/traces` is added), or undefined: the OTEL_* variables say. */
  endpoint: string | undefined;
}

/** A running export; stop() flushes the queue (within its timeout) and ends it. */
export interface TraceExport {
  stop(): Promise<void>;
}

/** Spans waiting for export at most; more are dropped (a slow collector never costs the host memory). */
const MAX_QUEUE = 4_096;
const FLUSH_TIMEOUT_MS = 5_000;

/**
 * What to install, in ranges that resolve together and with codecell's peer ranges (the newest of
 * each do not: sdk-trace-base 2 wants @opentelemetry/api below 1.10, the newest exporter 1.10).
 */
const OTEL_INSTALL =
  'npm install @opentelemetry/api@^1.9 @opentelemetry/sdk-trace-base@^2.12 ' +
  '@opentelemetry/exporter-trace-otlp-http@^0.223 @opentelemetry/context-async-hooks@^2.12 ' +
  '@opentelemetry/resources@^2.12';

/** The plan the flag and the environment make (undefined: no export). */
export function traceExportPlan(endpoint: string | undefined, env: NodeJS.ProcessEnv): TraceExportPlan | undefined {
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new Error(`--otlp-endpoint takes an http(s) URL, got ${JSON.stringify(endpoint)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new Error(`--otlp-endpoint takes an http(s) URL, got ${JSON.stringify(endpoint)}`);
    return { endpoint };
  }
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim());
  return exporters.includes('otlp') ? { endpoint: undefined } : undefined;
}

/** Registers the SDK with an OTLP/HTTP exporter; throws saying what to install when it is not there. */
export async function startTraceExport(plan: TraceExportPlan, serviceName: string): Promise<TraceExport> {
  let modules;
  try {
    modules = await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/context-async-hooks'),
      import('@opentelemetry/resources'),
    ]);
  } catch (error) {
    throw new Error(`exporting traces needs the OpenTelemetry SDK: ${OTEL_INSTALL} (${messageOf(error)})`, {
      cause: error,
    });
  }
  const [api, sdk, otlp, contexts, resources] = modules;
  const url =
    plan.endpoint === undefined
      ? undefined
      : plan.endpoint.endsWith('/v1/traces')
        ? plan.endpoint
        : `${plan.endpoint.replace(/\/+$/, '')}/v1/traces`;
  const exporter = new otlp.OTLPTraceExporter(url === undefined ? {} : { url });
  const processor = new sdk.BatchSpanProcessor(exporter, {
    maxQueueSize: MAX_QUEUE,
    exportTimeoutMillis: FLUSH_TIMEOUT_MS,
  });
  const resource = resources.resourceFromAttributes({
    'service.name': process.env.OTEL_SERVICE_NAME ?? serviceName,
    'service.version': CODECELL_VERSION,
  });
  const provider = new sdk.BasicTracerProvider({ resource, spanProcessors: [processor] });
  api.context.setGlobalContextManager(new contexts.AsyncLocalStorageContextManager().enable());
  api.trace.setGlobalTracerProvider(provider);
  return {
    stop: async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, FLUSH_TIMEOUT_MS)));
      await Promise.race([provider.shutdown().catch(() => {}), late]);
      clearTimeout(timer);
    },
  };
}
