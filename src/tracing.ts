// Spans (SPEC §14) through @opentelemetry/api, when it is installed and an SDK is registered: a
// span per cell (its parent: the caller's active context at execute), per tool call (GenAI's
// execute_tool, the delegate's invokeTool running inside it), per notification, and per observe,
// terminate and shutdown. Without an SDK (or without the API) nothing is recorded and a cell
// pays one non-recording span: a cell whose span does not record makes no span of its calls.
import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';
import { CODECELL_VERSION } from './defaults.js';
import type { CellEvent } from './types.js';

/** A span as codecell uses it (OpenTelemetry's Span, when the API is loaded). */
export type TraceSpan = OtelApi.Span;
/** A trace context (OpenTelemetry's Context). */
export type TraceContext = OtelApi.Context;

const api = loadApi();

function loadApi(): typeof OtelApi | undefined {
  try {
    return createRequire(import.meta.url)('@opentelemetry/api') as typeof OtelApi;
  } catch {
    return undefined; // an optional peer: no API, no spans
  }
}

/** True once this process recorded a span of its own (an SDK is registered here). */
let recorded = false;

/** Whether this process has recorded spans (a host without an SDK skips tracing's work per call). */
export function recordsSpans(): boolean {
  return recorded;
}

/** codecell's tracer from the global provider now (a provider registered again gets a new one). */
let cached: { provider: OtelApi.TracerProvider; tracer: OtelApi.Tracer } | undefined;

function tracerNow(otel: typeof OtelApi): OtelApi.Tracer {
  const provider = otel.trace.getTracerProvider();
  if (cached?.provider !== provider) cached = { provider, tracer: provider.getTracer('codecell', CODECELL_VERSION) };
  return cached.tracer;
}

/** The caller's active context now (the parent of what it starts), if the API is loaded. */
export function activeContext(): TraceContext | undefined {
  return api?.context.active();
}

/** Attribute values as spans take them. */
type Attributes = Record<string, string | number | boolean | undefined>;

/**
 * Starts a span under `parent` (a context, or a span); undefined when nothing records it (no SDK,
 * or a sampler that dropped it), so the caller skips its children and its attributes.
 */
export function startSpan(
  name: string,
  attributes: Attributes,
  parent?: TraceContext | TraceSpan,
  kind: 'internal' | 'client' = 'internal',
): TraceSpan | undefined {
  if (api === undefined) return undefined;
  const tracer = tracerNow(api);
  const context =
    parent === undefined
      ? api.context.active()
      : 'spanContext' in parent
        ? api.trace.setSpan(api.context.active(), parent)
        : parent;
  const spanKind = kind === 'client' ? api.SpanKind.CLIENT : api.SpanKind.INTERNAL;
  const span = tracer.startSpan(name, { kind: spanKind, attributes: defined(attributes) }, context);
  if (span.isRecording()) {
    recorded = true;
    return span;
  }
  span.end();
  return undefined;
}

/** Runs `fn` with `span` as the active span (its children's parent), or as is without one. */
export function inSpan<T>(span: TraceSpan | undefined, fn: () => T): T {
  if (span === undefined || api === undefined) return fn();
  return api.context.with(api.trace.setSpan(api.context.active(), span), fn);
}

/** Ends a span: its attributes, and an error status with the message when `error` is given. */
export function endSpan(span: TraceSpan | undefined, attributes: Attributes = {}, error?: string): void {
  if (span === undefined || api === undefined) return;
  span.setAttributes(defined(attributes));
  if (error !== undefined) span.setStatus({ code: api.SpanStatusCode.ERROR, message: error });
  span.end();
}

/** Ends a cell's span with its outcome (SPEC §14): its kind, its termination's reason, an error it threw. */
export function endCellSpan(span: TraceSpan | undefined, event: CellEvent): void {
  const error = event.kind === 'completed' ? event.error : undefined;
  const reason = event.kind === 'terminated' ? event.reason : undefined;
  endSpan(span, { 'codecell.cell.outcome': event.kind, 'codecell.cell.reason': reason }, error ?? reason);
}

/**
 * A span from now until `operation` settles (the caller's context its parent), with the outcome's
 * kind when it is a cell event; `operation` as it is when nothing records.
 */
export function traced<T>(name: string, attributes: Attributes, operation: Promise<T>): Promise<T> {
  const span = startSpan(name, attributes);
  if (span === undefined) return operation;
  operation.then(
    (value) => {
      const kind = (value as { kind?: unknown } | undefined)?.kind;
      endSpan(span, { 'codecell.cell.outcome': typeof kind === 'string' ? kind : undefined });
    },
    (error: unknown) => endSpan(span, {}, error instanceof Error ? error.message : String(error)),
  );
  return operation;
}

function defined(attributes: Attributes): OtelApi.Attributes {
  const kept: OtelApi.Attributes = {};
  for (const [key, value] of Object.entries(attributes)) if (value !== undefined) kept[key] = value;
  return kept;
}

/**
 * The spans of one cell's delegate calls: each runs inside its span, which ends when the delegate
 * settles, whatever the cell did meanwhile; one still running when the cell closes was abandoned
 * at the shared deadline (SPEC §6) and is ended so then.
 */
export class CallSpans {
  readonly #open = new Set<TraceSpan>();

  traced<T>(
    name: string,
    attributes: Attributes,
    parent: TraceSpan | undefined,
    signal: AbortSignal,
    call: () => Promise<T>,
  ): Promise<T> {
    const span = startSpan(name, attributes, parent, 'client');
    if (span === undefined) return call();
    const ended = (error?: string): void => {
      if (!this.#open.delete(span)) return;
      endSpan(
        span,
        { 'codecell.outcome': error === undefined ? 'returned' : 'threw', 'codecell.cancelled': signal.aborted },
        error,
      );
    };
    this.#open.add(span);
    let running: Promise<T>;
    try {
      running = Promise.resolve(inSpan(span, call));
    } catch (error) {
      ended(error instanceof Error ? error.message : String(error));
      throw error;
    }
    running.then(
      () => ended(),
      (error: unknown) => ended(error instanceof Error ? error.message : String(error)),
    );
    return running;
  }

  /** The cell closed: the spans of delegates still running were abandoned at the shared deadline. */
  abandon(): void {
    for (const span of this.#open)
      endSpan(span, { 'codecell.deadline_aborted': true }, 'abandoned at the shared deadline');
    this.#open.clear();
  }
}

/** W3C trace context as the protocol's `_meta` carries it (SPEC §14). */
export interface TraceMeta {
  traceparent?: string;
  tracestate?: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The active span's context as W3C `traceparent`/`tracestate` (version 00), or undefined when no
 * valid span is active: what a request's `_meta` carries across the wire.
 */
export function traceMeta(): TraceMeta | undefined {
  if (api === undefined) return undefined;
  const span = api.trace.getSpan(api.context.active());
  const spanContext = span?.spanContext();
  if (spanContext === undefined || !api.trace.isSpanContextValid(spanContext)) return undefined;
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  const traceparent = `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
  const tracestate = spanContext.traceState?.serialize();
  return tracestate === undefined || tracestate === '' ? { traceparent } : { traceparent, tracestate };
}

/**
 * Runs `fn` in the context a peer's `_meta` names (its span the parent of what `fn` starts), or
 * in the active one when `_meta` has no valid `traceparent`.
 */
export function withTraceMeta<T>(meta: unknown, fn: () => T): T {
  if (api === undefined || meta === null || typeof meta !== 'object') return fn();
  const { traceparent, tracestate } = meta as Record<string, unknown>;
  const match = typeof traceparent === 'string' ? TRACEPARENT.exec(traceparent) : null;
  if (match === null) return fn();
  const [, traceId = '', spanId = '', flags = '00'] = match;
  const spanContext: OtelApi.SpanContext = {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16),
    isRemote: true,
    ...(typeof tracestate === 'string' ? { traceState: api.createTraceState(tracestate) } : {}),
  };
  if (!api.trace.isSpanContextValid(spanContext)) return fn();
  return api.context.with(api.trace.setSpanContext(api.context.active(), spanContext), fn);
}
