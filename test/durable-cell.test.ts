// runDurableCell, the engine-neutral half of the engine adapters (ADR 24), on the smallest engine
// that keeps its promise: steps recorded by position in memory, read back on a run again. The
// real engines (DBOS, Restate) are tested in test/servers/; this file pins codecell's own rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  advanceDurableCell,
  approvalInterrupt,
  makeCall,
  runDurableCell,
  type AdvancingSteps,
  type DurableSteps,
  type JsonValue,
  type NestedToolCall,
} from '../src/index.js';

/** An engine in memory: a step at a recorded position returns its recorded value unrun. */
function memoryEngine(log: { name: string; value: unknown }[], runId = 'memory:cell-1'): DurableSteps {
  let position = 0;
  return {
    runId,
    step: <T extends JsonValue>(name: string, run: () => Promise<T>): Promise<T> => {
      const at = position++;
      const recorded = log[at];
      if (recorded !== undefined) {
        assert.equal(recorded.name, name, `position ${at}`);
        return Promise.resolve(recorded.value as T);
      }
      return run().then((value) => ((log[at] = { name, value }), value));
    },
    answer: () => Promise.reject(new Error('no answers here')),
  };
}

const tools = [{ name: 'charge' }, { name: 'lookup', idempotent: true }];

function delegate(made: string[]): { invokeTool: (call: NestedToolCall) => Promise<JsonValue> } {
  return {
    invokeTool: async (call) => (
      made.push(`${call.tool.name} ${JSON.stringify(call.input)}`),
      `${call.tool.name} done`
    ),
  };
}

test(
  'a run again reads each call back: none is made twice, and the cell reads the same seed and clock',
  { timeout: 30_000 },
  async () => {
    const log: { name: string; value: unknown }[] = [];
    const made: string[] = [];
    const source = `text(String(Math.random()), String(Date.now())); text(await tools.charge({ n: 1 }));
text(await tools.lookup({ q: 'x' }));`;
    const first = await runDurableCell(memoryEngine(log), { tools, delegate: delegate(made) }, source);
    const again = await runDurableCell(memoryEngine(log), { tools, delegate: delegate(made) }, source);
    assert.deepEqual(made, ['charge {"n":1}', 'lookup {"q":"x"}']);
    assert.deepEqual(again, first);
    assert.deepEqual(
      log.map((step) => step.name),
      ['codecell.start', 'codecell.started tools.charge', 'codecell.call tools.charge', 'codecell.call tools.lookup'],
    );
  },
);

test(
  'a call whose start is recorded without its outcome is in doubt, and not made again',
  { timeout: 30_000 },
  async () => {
    const log: { name: string; value: unknown }[] = [
      { name: 'codecell.start', value: { seed: 7, now: 1_000 } },
      { name: 'codecell.started tools.charge', value: 'tool-1' },
    ];
    const made: string[] = [];
    const result = await runDurableCell(
      memoryEngine(log),
      { tools, delegate: delegate(made) },
      `try { await tools.charge({ n: 1 }); } catch (error) { text(error.message); }`,
    );
    assert.deepEqual(made, []);
    assert.deepEqual(result, {
      kind: 'completed',
      items: [
        {
          type: 'text',
          text: 'tools.charge is in doubt: it was under way when a worker stopped, and it may or may not have taken effect',
        },
      ],
      inDoubt: [{ callId: 'tool-1', tool: 'tools.charge' }],
    });
  },
);

test('a run that makes another call at a recorded position fails, naming both', { timeout: 30_000 }, async () => {
  const log: { name: string; value: unknown }[] = [];
  await runDurableCell(memoryEngine(log), { tools, delegate: delegate([]) }, `await tools.lookup({ q: 'x' });`);
  const changed = runDurableCell(
    memoryEngine(log),
    { tools, delegate: delegate([]) },
    `await tools.lookup({ q: 'y' });`,
  );
  await assert.rejects(changed, {
    message:
      'codecell: this run of the cell is not the recorded one: tools.lookup (tool-1) was made with {"q":"y"}; ' +
      'the recorded run made tool-1 with {"q":"x"}',
  });
});

/**
 * An advancing engine in memory (AdvancingSteps, as codecell/workflow's): a run stops where it
 * waits on steps not recorded; the test takes them (a call made with makeCall, an answer given)
 * and runs the cell again. `runs` counts the runs; `waited` lists each run's new steps.
 */
async function advanceToEnd(
  source: string,
  invokeTool: (call: NestedToolCall) => Promise<JsonValue>,
  waited: string[][],
): Promise<unknown> {
  const log = new Map<number, JsonValue>();
  for (let runs = 0; runs < 20; runs++) {
    const waits: { position: number; name: string; call?: NestedToolCall }[] = [];
    let position = 0;
    const taken = (at: number): Promise<JsonValue> | undefined =>
      log.has(at) ? Promise.resolve(log.get(at)!) : undefined;
    const steps: AdvancingSteps = {
      runId: 'memory:cell-2',
      step: <T extends JsonValue>(
        name: string,
        run: () => Promise<T>,
        options: { quick?: boolean; call?: NestedToolCall } = {},
      ) => {
        const at = position++;
        const recorded = taken(at);
        if (recorded !== undefined) return recorded as Promise<T>;
        if (options.quick === true) return run().then((value) => (log.set(at, value), value));
        waits.push({ position: at, name, ...(options.call === undefined ? {} : { call: options.call }) });
        return new Promise<T>(() => {});
      },
      answer: (callId) => {
        const at = position++;
        const recorded = taken(at);
        if (recorded !== undefined) return recorded as Promise<never>;
        waits.push({ position: at, name: `answer ${callId}` });
        return new Promise(() => {});
      },
      unrecorded: () => waits.length,
    };
    const end = await advanceDurableCell(steps, { tools, delegate: { invokeTool } }, source);
    if (end !== undefined) return end;
    waited.push(waits.map((wait) => wait.name));
    for (const wait of waits) {
      const value =
        wait.call === undefined
          ? { approved: true }
          : await makeCall({ invokeTool }, wait.call, new AbortController().signal, false);
      log.set(wait.position, value as JsonValue);
    }
  }
  throw new Error('the cell did not end in 20 runs');
}

test(
  'advancing: each run stops at the calls it waits on, all of them at once, and the cell ends as it would have',
  { timeout: 30_000 },
  async () => {
    const made: string[] = [];
    const waited: string[][] = [];
    const source = `const [a, b] = await Promise.all([tools.charge({ n: 1 }), tools.lookup({ q: 'x' })]);
text(a + ' ' + b); text(await tools.lookup({ q: 'y' }));`;
    const end = await advanceToEnd(source, delegate(made).invokeTool, waited);
    assert.deepEqual(end, {
      kind: 'completed',
      items: [
        { type: 'text', text: 'charge done lookup done' },
        { type: 'text', text: 'lookup done' },
      ],
      inDoubt: [],
    });
    // Both parallel calls in the first run's waits; each call made once.
    assert.deepEqual(waited, [
      ['codecell.call tools.charge', 'codecell.call tools.lookup'],
      ['codecell.call tools.lookup'],
    ]);
    assert.deepEqual(made, ['charge {"n":1}', 'lookup {"q":"x"}', 'lookup {"q":"y"}']);
  },
);

test(
  'advancing: a paused call waits on its answer, and the approved call is a step of its own',
  { timeout: 30_000 },
  async () => {
    const made: string[] = [];
    const waited: string[][] = [];
    const invokeTool = async (call: NestedToolCall): Promise<JsonValue> => {
      made.push(`${call.tool.name} approved ${String(call.approved === true)}`);
      if (call.approved !== true) throw approvalInterrupt(call);
      return 'deployed';
    };
    const end = await advanceToEnd(`text(await tools.charge({ n: 2 }));`, invokeTool, waited);
    assert.deepEqual(end, { kind: 'completed', items: [{ type: 'text', text: 'deployed' }], inDoubt: [] });
    assert.deepEqual(waited, [['codecell.call tools.charge'], ['answer tool-1'], ['codecell.call tools.charge']]);
    assert.deepEqual(made, ['charge approved false', 'charge approved true']);
  },
);
