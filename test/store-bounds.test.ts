// SPEC §16's bounds: an open cell whose journal passed journalMaxBytes can never run again, so its
// store keeps only what its loss report needs — its newest 1 000 calls, the older answered ones
// counted — and the log is compacted as it grows, in process and over the wire. A recovery after
// that reports the cell lost with those calls.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { HostClient } from '../host/index.js';
import { memoryStore, SessionRuntime, type CodeCellSession, type CodeCellStore } from '../src/index.js';
import { storeWith } from './store-contract.js';
import { capturingLogger, deferred, LONG_WAIT, RecordingDelegate, stall, waitFor } from './helpers.js';

const CALLS = 3_000;
const TOOLS = [{ name: 'echo' }, { name: 'hold' }];

interface Kind {
  name: string;
  open(t: TestContext, delegate: RecordingDelegate, store: CodeCellStore): Promise<CodeCellSession>;
  /** What recovers the session in another process (made ready before the agent stops). */
  recoverer(t: TestContext, store: CodeCellStore): Promise<() => Promise<CodeCellSession[]>>;
}

const options = { key: 'bounded-1', tools: TOOLS, limits: { journalMaxBytes: 4_096 } };
const kinds: Kind[] = [
  {
    name: 'in process',
    open: async (t, delegate, store) => {
      const session = new SessionRuntime(delegate, { ...options, store, leaseMs: 300, logger: capturingLogger() });
      t.after(() => session.shutdown());
      return session;
    },
    recoverer: async (t, store) => async () => {
      const sessions = await SessionRuntime.recover(store, () => new RecordingDelegate(), {
        logger: capturingLogger(),
      });
      for (const session of sessions) t.after(() => session.shutdown());
      return sessions;
    },
  },
  {
    name: 'over the wire',
    open: async (t, delegate, store) => {
      const client = await HostClient.spawn({ store, leaseMs: 300, processes: 1, logger: capturingLogger() });
      t.after(() => client.close());
      return client.createSession(delegate, options);
    },
    recoverer: async (t, store) => {
      const client = await HostClient.spawn({ store, leaseMs: 300, processes: 1, logger: capturingLogger() });
      t.after(() => client.close());
      return () => client.recover(() => new RecordingDelegate());
    },
  },
];

for (const kind of kinds)
  describe(`${kind.name}: one open cell of many calls`, { timeout: 120_000 }, () => {
    test('its store keeps what its loss report needs, and a recovery reports it lost with those calls', async (t) => {
      const store = memoryStore();
      const held = deferred<null>();
      const delegate = new RecordingDelegate({ echo: (call) => call.input ?? null, hold: () => held.promise });
      t.after(() => held.resolve(null));
      const session = await kind.open(t, delegate, store);
      const source = `for (let i = 0; i < ${CALLS}; i++) await tools.echo({ i }); await tools.hold({})`;
      const { cellId } = await session.execute({ source }, { kind: 'yieldAfter', ms: 0 });
      await waitFor(() => delegate.calls.length === CALLS + 1, 60_000);
      const records = (await store.records('bounded-1')) ?? [];
      assert.ok(records.length <= 5_000, `${records.length} records for ${CALLS} calls`);
      // The agent stops past its lease: another process finds the cell lost, with its newest calls.
      const recover = await kind.recoverer(t, storeWith(store, 'another process', {}));
      stall(400);
      const [recovered] = await recover();
      assert.ok(recovered !== undefined);
      const lost = await recovered.observe(cellId, LONG_WAIT);
      assert.equal(lost.kind === 'terminated' && lost.reason, 'agentLost');
      const listed = lost.kind === 'terminated' ? (lost.toolCalls ?? []) : [];
      assert.deepEqual(
        [listed.length, lost.kind === 'terminated' && lost.toolCallsDropped, listed[0]?.callId, listed.at(-1)],
        [
          1_000,
          CALLS + 1 - 1_000,
          `tool-${CALLS + 2 - 1_000}`,
          { callId: `tool-${CALLS + 1}`, tool: { name: 'hold' }, input: {}, outcome: 'inDoubt' },
        ],
      );
    });
  });
