// Issue 54, item 3 (SPEC §14): codecell-host with --otlp-endpoint exports its spans over
// OTLP/HTTP; a local receiver decodes them: the host's cell span is the child of the client's
// span (across the process boundary), its parallel tool call spans the cell's, the tool
// implementations' own spans (in the client) those calls' children, and the export is flushed
// when the host exits.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Client as ModernClient } from '@modelcontextprotocol/client';
import { StdioClientTransport as ModernStdio } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { HostClient } from '../host/index.js';
import { hostCommand } from '../host/cli/host-args.js';
import type { NestedToolCall } from '../src/index.js';
import { recordSpans } from './framework-helpers.js';
import { capturingLogger, RecordingDelegate, texts, waitFor } from './helpers.js';
import { HOST_BIN } from './sessions.js';

const CLI = fileURLToPath(new URL('../../bin/codecell.js', import.meta.url));
const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

/** An OTLP/HTTP receiver on a free loopback port: the spans of every JSON export it was sent. */
async function receiver(t: TestContext): Promise<{ url: string; spans: OtlpSpan[]; paths: string[] }> {
  const spans: OtlpSpan[] = [];
  const paths: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      paths.push(`${request.method} ${request.url} ${request.headers['content-type']}`);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      for (const resource of body.resourceSpans) for (const scope of resource.scopeSpans) spans.push(...scope.spans);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, paths };
}

describe('codecell-host exports its traces over OTLP/HTTP', { timeout: 60_000 }, () => {
  test('--otlp-endpoint: the host’s spans reach the collector, children of the client’s span', async (t) => {
    const collector = await receiver(t);
    // The client's own SDK (the agent's), for the span the cell is to be a child of.
    const clientSpans = recordSpans(t);
    const client = await HostClient.spawn({
      command: HOST_BIN,
      args: ['--otlp-endpoint', collector.url],
      processes: 1,
      logger: capturingLogger(),
    });
    t.after(() => client.close());
    // The tool's implementation makes a span of its own, in the client: a child of the host's call span.
    const lookup = (call: NestedToolCall): string =>
      trace.getTracer('tool').startActiveSpan(`impl ${String((call.input as { q: string }).q)}`, (span) => {
        span.end();
        return 'found';
      });
    const session = await client.createSession(new RecordingDelegate({ lookup }), { tools: [{ name: 'lookup' }] });
    const agent = trace.getTracer('agent').startSpan('agent turn');
    const started = await context.with(trace.setSpan(context.active(), agent), () =>
      session.execute({
        source: 'text((await Promise.all([tools.lookup({ q: "a" }), tools.lookup({ q: "b" })])).join())',
      }),
    );
    assert.deepEqual(texts(await started.initialEvent), ['found,found']);
    agent.end();
    // The host flushes its batch when it exits.
    await client.close();
    await waitFor(() => collector.spans.some((span) => span.name === 'codecell.cell'));
    assert.ok(
      collector.paths.every((path) => path === 'POST /v1/traces application/json'),
      collector.paths.join(),
    );
    const cell = collector.spans.find((span) => span.name === 'codecell.cell');
    const calls = collector.spans.filter((span) => span.name === 'execute_tool lookup');
    const call = calls[0];
    const { traceId, spanId } = agent.spanContext();
    assert.equal(cell?.traceId, traceId, 'one trace, across the process boundary');
    assert.equal(cell?.parentSpanId, spanId, 'the host’s cell span is the client span’s child');
    assert.equal(calls.length, 2, 'two parallel calls, two spans');
    for (const each of calls) assert.equal(each.parentSpanId, cell?.spanId);
    // Back across the boundary: each implementation's span is the child of its host call span.
    const impls = clientSpans.getFinishedSpans().filter((span) => span.name.startsWith('impl '));
    assert.deepEqual(impls.map((span) => span.name).sort(), ['impl a', 'impl b']);
    for (const impl of impls) {
      assert.equal(impl.spanContext().traceId, traceId);
      assert.ok(
        calls.some((each) => each.spanId === impl.parentSpanContext?.spanId),
        `${impl.name}'s parent`,
      );
    }
    const attribute = (span: OtlpSpan | undefined, key: string): unknown =>
      span?.attributes.find((each) => each.key === key)?.value;
    assert.deepEqual(attribute(call, 'gen_ai.tool.name'), { stringValue: 'lookup' });
    assert.deepEqual(attribute(cell, 'codecell.cell.outcome'), { stringValue: 'completed' });
  });

  test('the flag and the environment: which plan, and a clear error for a bad URL', () => {
    const io = (env: NodeJS.ProcessEnv) => {
      const errors: string[] = [];
      const stream = { write: (text: string) => errors.push(text) } as unknown as NodeJS.WritableStream;
      return { io: { stdout: stream, stderr: stream, env } as never, errors };
    };
    const stdio = { mode: 'stdio', maxResultBytes: undefined } as const;
    assert.deepEqual(hostCommand([], io({}).io), { ...stdio, traces: undefined });
    assert.deepEqual(hostCommand([], io({ OTEL_TRACES_EXPORTER: 'console, otlp' }).io), {
      ...stdio,
      traces: { endpoint: undefined },
    });
    assert.deepEqual(hostCommand(['--otlp-endpoint', 'http://collector:4318'], io({}).io), {
      ...stdio,
      traces: { endpoint: 'http://collector:4318' },
    });
    const bad = io({});
    assert.equal(hostCommand(['--otlp-endpoint', 'collector:4318'], bad.io), 2);
    assert.match(bad.errors.join(''), /--otlp-endpoint takes an http\(s\) URL, got "collector:4318"/);
  });

  for (const revision of ['2025-11-25', '2026-07-28'])
    test(`codecell mcp --otlp-endpoint: an MCP client’s _meta.traceparent is the parent of the cell’s span (${revision})`, async (t) => {
      const collector = await receiver(t);
      const args = ['mcp', '--upstream', `${process.execPath} ${EVERYTHING} stdio`, '--otlp-endpoint', collector.url];
      // 2026-07-28: the stateless leg (MCP SDK v2 on both ends); else a 2025 session.
      const client =
        revision === '2026-07-28'
          ? new ModernClient(
              { name: 'codecell-trace-test', version: '1' },
              { versionNegotiation: { mode: { pin: revision } } },
            )
          : new Client({ name: 'codecell-trace-test', version: '1.0.0' });
      const transport =
        revision === '2026-07-28'
          ? new ModernStdio({ command: CLI, args, stderr: 'ignore' })
          : new StdioClientTransport({ command: CLI, args, stderr: 'ignore' });
      await client.connect(transport as never);
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const parent = '00f067aa0ba902b7';
      const result = (await client.callTool({
        name: 'exec',
        arguments: { source: 'text(await tools.everything__echo({ message: "hi" }))' },
        _meta: { traceparent: `00-${traceId}-${parent}-01` },
      })) as { isError?: boolean };
      assert.notEqual(result.isError, true);
      await client.close(); // codecell mcp ends, and its host flushes on exit
      await waitFor(() => collector.spans.some((span) => span.name === 'codecell.cell'));
      const cell = collector.spans.find((span) => span.name === 'codecell.cell');
      assert.equal(cell?.traceId, traceId);
      assert.equal(cell?.parentSpanId, parent);
      assert.ok(
        collector.spans.some((span) => span.name === 'execute_tool echo' && span.parentSpanId === cell?.spanId),
      );
    });
});
