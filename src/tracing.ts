// Spans (SPEC §14) through @opentelemetry/api, when it is installed and an SDK is registered: a
// span per cell (its parent: the caller's active context at execute), per tool call (GenAI's
// execute_tool, the delegate's invokeTool running inside it), per notification, and per observe,
// terminate and shutdown. Without an SDK (or without the API) nothing is recorded and a cell
// pays one non-recording span: a cell whose span does not record makes no span of its calls.
import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';
import { CODECELL_VERSION } from './defaults.js';

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

const tracer = api?.trace.getTracer('codecell', CODECELL_VERSION);

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
  if (api === undefined || tracer === undefined) return undefined;
  const context =
    parent === undefined
      ? api.context.active()
      : 'spanContext' in parent
        ? api.trace.setSpan(api.context.active(), parent)
        : parent;
  const spanKind = kind === 'client' ? api.SpanKind.CLIENT : api.SpanKind.INTERNAL;
  const span = tracer.startSpan(name, { kind: spanKind, attributes: defined(attributes) }, context);
  if (span.isRecording()) return span;
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
