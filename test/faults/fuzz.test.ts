// Protocol fuzzing of codecell-host: random and mutated JSON-RPC traffic never crashes it, every
// request gets exactly one answer, and a valid request afterwards still succeeds.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import { createHost } from '../../host/index.js';
import { capturingLogger } from '../helpers.js';
import { frame, RawClient } from '../wire.js';

const METHODS = [
  'initialize',
  'session/create',
  'cell/execute',
  'cell/observe',
  'cell/terminate',
  'session/shutdown',
  'tool/invoke',
  'nope',
  '$/cancelRequest',
  '',
];

const anyJson = fc.jsonValue({ maxDepth: 3 });
const weirdNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(Number.MAX_SAFE_INTEGER, -1, 1e308, 0));
const params = fc.oneof(
  anyJson,
  fc.record(
    {
      sessionId: fc.oneof(fc.constantFrom('1', '2', '999'), fc.string(), weirdNumber),
      cellId: fc.oneof(fc.string(), weirdNumber, fc.constant('1')),
    },
    { requiredKeys: [] },
  ),
  fc.record(
    {
      sessionId: fc.constantFrom('1', '2'),
      request: fc.oneof(
        anyJson,
        fc.record(
          {
            source: fc.oneof(fc.string(), fc.constant('text(1)'), weirdNumber),
            language: fc.oneof(fc.string(), fc.constant('typescript')),
          },
          { requiredKeys: [] },
        ),
      ),
      observe: fc.oneof(
        anyJson,
        fc.record({
          kind: fc.constantFrom('yieldAfter', 'pendingFrontier', 'bogus'),
          ms: fc.oneof(weirdNumber, fc.constant(0)),
        }),
      ),
      mode: fc.oneof(anyJson, fc.constant({ kind: 'yieldAfter', ms: 0 })),
    },
    { requiredKeys: ['sessionId'] },
  ),
  fc.record(
    {
      protocolVersion: fc.oneof(weirdNumber, fc.constant(2)),
      tools: anyJson,
      limits: anyJson,
      setupSource: fc.oneof(fc.string(), fc.constant('text("setup")')),
    },
    { requiredKeys: [] },
  ),
);

type Message =
  | { kind: 'request'; method: string; params: unknown }
  | { kind: 'notification'; method: string; params: unknown }
  | { kind: 'raw'; bytes: string };

const message: fc.Arbitrary<Message> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('request' as const),
      method: fc.oneof(fc.constantFrom(...METHODS), fc.string()),
      params,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('notification' as const),
      method: fc.oneof(fc.constantFrom(...METHODS), fc.string()),
      params,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('raw' as const),
      bytes: fc.oneof(fc.string(), fc.json(), fc.constant('{"jsonrpc":"2.0","id":[1],"method":"x"}')),
    }),
  },
);

test('random JSON-RPC traffic: one answer per request, and the host keeps serving', async (t) => {
  const toHost = new PassThrough();
  const fromHost = new PassThrough();
  const host = createHost({ input: toHost, output: fromHost, logger: capturingLogger(), callbackAbortDeadlineMs: 20 });
  t.after(() => host.close());
  const raw = new RawClient(fromHost, toHost);
  let nextId = 1_000;
  await fc.assert(
    fc.asyncProperty(fc.array(message, { maxLength: 8 }), async (messages) => {
      const ids: number[] = [];
      for (const item of messages) {
        if (item.kind === 'raw') {
          raw.write(frame(item.bytes));
        } else if (item.kind === 'notification') {
          raw.write(frame(JSON.stringify({ jsonrpc: '2.0', method: item.method, params: item.params })));
        } else {
          const id = nextId++;
          ids.push(id);
          raw.write(frame(JSON.stringify({ jsonrpc: '2.0', id, method: item.method, params: item.params })));
        }
      }
      for (const id of ids) {
        await raw.log.next((m) => m.id === id && (m.result !== undefined || m.error !== undefined), 20_000);
      }
      // A short pause, then no request was answered twice.
      await new Promise((resolve) => setTimeout(resolve, 5));
      for (const id of ids) {
        assert.equal(
          raw.log.messages.filter((m) => m.id === id && (m.result !== undefined || m.error !== undefined)).length,
          1,
          `request ${id} answered once`,
        );
      }
    }),
    { seed: 20261122, numRuns: 120, endOnFailure: true },
  );
  const created = await raw.call('session/create', {});
  const { sessionId } = created.result as { sessionId: string };
  const executed = await raw.call('cell/execute', { sessionId, request: { source: 'text("after the fuzz")' } });
  const { cellId } = executed.result as { cellId: string };
  const initial = await raw.log.next(
    (m) => m.method === 'cell/initialEvent' && (m.params as { cellId?: string }).cellId === cellId,
  );
  assert.deepEqual((initial.params as { event: { items: unknown[] } }).event.items, [
    { type: 'text', text: 'after the fuzz' },
  ]);
  toHost.end();
  await host.closed;
});
