// SessionRuntimeOptions.deterministic (ADR 24): a cell that runs the same way every time, for an
// engine that runs it again and keys its steps by their order — a seeded Math.random, a clock
// that reads one time, and results and timers that enter in the order they were made.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectInProcess } from '../host/in-process.js';
import { memoryStore, type SessionRuntimeOptions } from '../src/index.js';
import { capturingLogger, newRuntime, RecordingDelegate, texts } from './helpers.js';

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);

/** A tool that answers after `ms` (from its input), with its own name. */
const after = async (call: { input: unknown }): Promise<string> => {
  const { ms, name } = call.input as { ms: number; name: string };
  await sleep(ms);
  return name;
};

test('the same seed and time: Math.random and the clock read the same in every run', { timeout: 30_000 }, async (t) => {
  const source = "text([Math.random(), Math.random(), Date.now(), new Date().toISOString(), Date()].join(' '))";
  const outputs: string[][] = [];
  for (let i = 0; i < 2; i++) {
    const session = newRuntime(t, new RecordingDelegate(), { deterministic: { seed: 42, now: NOW } });
    const { initialEvent } = await session.execute({ source });
    const event = await initialEvent;
    assert.equal(event.kind, 'completed', JSON.stringify(event));
    outputs.push(texts(event));
  }
  assert.deepEqual(outputs[0], outputs[1]);
  const [line] = outputs[0] ?? [];
  assert.match(line ?? '', / 1795867200000 2026-11-28T12:00:00\.000Z Sat Nov 28 2026/);
  const other = newRuntime(t, new RecordingDelegate(), { deterministic: { seed: 43, now: NOW } });
  const otherEvent = await (await other.execute({ source })).initialEvent;
  assert.notDeepEqual(texts(otherEvent), outputs[0], 'another seed gives other numbers');
});

test('results enter in the order their calls were made, not as they arrived', { timeout: 30_000 }, async (t) => {
  // The slow call is made first: it enters first, and the call made on the first result to enter
  // is the same whatever the timing. Without the option, the fast one wins.
  const source = `const order = [];
const slow = tools.after({ ms: 80, name: 'slow' }).then((name) => order.push(name));
const fast = tools.after({ ms: 0, name: 'fast' }).then((name) => order.push(name));
const first = await Promise.race([slow, fast].map((p, i) => p.then(() => order[0])));
await tools.after({ ms: 0, name: 'next after ' + first });
await Promise.all([slow, fast]);
text(order.join(', '));`;
  const made = async (options: SessionRuntimeOptions): Promise<{ order: string[]; calls: string[] }> => {
    const delegate = new RecordingDelegate({ after });
    const session = newRuntime(t, delegate, { tools: [{ name: 'after' }], ...options });
    const event = await (await session.execute({ source })).initialEvent;
    assert.equal(event.kind, 'completed', JSON.stringify(event));
    return { order: texts(event), calls: delegate.calls.map((call) => (call.input as { name: string }).name) };
  };
  assert.deepEqual(await made({ deterministic: { seed: 1, now: NOW } }), {
    order: ['slow, fast'],
    calls: ['slow', 'fast', 'next after slow'],
  });
  assert.deepEqual(await made({}), { order: ['fast, slow'], calls: ['slow', 'fast', 'next after fast'] });
});

test(
  'a timer enters after the calls made before it; a cleared one holds nothing up',
  { timeout: 30_000 },
  async (t) => {
    const source = `const order = [];
const call = tools.after({ ms: 60, name: 'call' }).then((name) => order.push(name));
const cleared = setTimeout(() => order.push('cleared'), 0);
clearTimeout(cleared);
await new Promise((resolve) => setTimeout(() => resolve(order.push('timer')), 0));
await call;
text(order.join(', '));`;
    const session = newRuntime(t, new RecordingDelegate({ after }), {
      tools: [{ name: 'after' }],
      deterministic: { seed: 1, now: NOW },
    });
    const event = await (await session.execute({ source })).initialEvent;
    assert.equal(event.kind, 'completed', JSON.stringify(event));
    assert.deepEqual(texts(event), ['call, timer']);
  },
);

test('the calls come in one order whether the tools answer at once or take time', { timeout: 30_000 }, async (t) => {
  // A result that enters before the microtasks queued after its call (a wait that took it at once)
  // lets `await x` make its next call before the chain beside it makes its own: on an engine, a
  // run again whose recorded results come at once would take its steps at other positions.
  const source = `const order = [];
for (const name of ['w', 'v']) await tools.TOOL({ ms: 5, name });
const x = tools.TOOL({ ms: 5, name: 'x' });
const beside = (async () => { await null; await null; order.push(await tools.TOOL({ ms: 5, name: 'y' })); })();
order.push(await x);
order.push(await tools.TOOL({ ms: 5, name: 'z' }));
await beside;
text(order.join(', '));`;
  const made = async (tool: 'now' | 'after'): Promise<{ order: string[]; calls: string[] }> => {
    const delegate = new RecordingDelegate({ after, now: (call) => (call.input as { name: string }).name });
    const session = newRuntime(t, delegate, {
      tools: [{ name: 'after' }, { name: 'now' }],
      deterministic: { seed: 1, now: NOW },
    });
    const event = await (await session.execute({ source: source.replaceAll('TOOL', tool) })).initialEvent;
    assert.equal(event.kind, 'completed', JSON.stringify(event));
    return { order: texts(event), calls: delegate.calls.map((call) => (call.input as { name: string }).name) };
  };
  const expected = { order: ['x, y, z'], calls: ['w', 'v', 'x', 'y', 'z'] };
  for (let round = 0; round < 3; round++) {
    assert.deepEqual(await made('now'), expected, 'tools that answer at once');
    assert.deepEqual(await made('after'), expected, 'tools that take 5 ms');
  }
});

test('options.deterministic is checked: a seed, a time, and no store', { timeout: 30_000 }, async (t) => {
  const refused = (deterministic: unknown, extra: object = {}): string => {
    try {
      newRuntime(t, new RecordingDelegate(), { deterministic, ...extra } as SessionRuntimeOptions);
    } catch (error) {
      assert.equal((error as { code?: string }).code, 'ERR_INVALID_REQUEST');
      return (error as Error).message;
    }
    return 'accepted';
  };
  assert.equal(refused(7), 'options.deterministic must be an object { seed, now }');
  assert.equal(refused({ seed: -1, now: NOW }), 'options.deterministic.seed must be an unsigned 32-bit integer');
  assert.equal(refused({ seed: 2 ** 32, now: NOW }), 'options.deterministic.seed must be an unsigned 32-bit integer');
  assert.equal(
    refused({ seed: 1, now: Number.NaN }),
    'options.deterministic.now must be a finite number (ms since the epoch)',
  );
  assert.equal(
    refused({ seed: 1, now: NOW }, { store: memoryStore() }),
    'options.deterministic cannot go with options.store: the engine that runs the cell keeps it',
  );
  assert.equal(refused({ seed: 1, now: NOW }), 'accepted');
});

test('a suspended deterministic session resumes deterministic', { timeout: 30_000 }, async (t) => {
  const source = "text([Math.random(), Date.now()].join(' '))";
  const first = newRuntime(t, new RecordingDelegate(), { deterministic: { seed: 7, now: NOW } });
  const expected = texts(await (await first.execute({ source })).initialEvent);
  const snapshot = await newRuntime(t, new RecordingDelegate(), { deterministic: { seed: 7, now: NOW } }).suspend();
  assert.deepEqual(snapshot.options.deterministic, { seed: 7, now: NOW });
  const resumed = newRuntime(t, new RecordingDelegate(), {}, JSON.parse(JSON.stringify(snapshot)) as typeof snapshot);
  assert.deepEqual(texts(await (await resumed.execute({ source })).initialEvent), expected);
  // codecell-host runs no deterministic cells: its client says so rather than drop the option.
  const linked = await connectInProcess({ logger: capturingLogger() });
  t.after(() => linked.close());
  await assert.rejects(linked.client.resumeSession(snapshot, new RecordingDelegate()), {
    code: 'ERR_INVALID_REQUEST',
    message: 'a deterministic session resumes in process (SessionRuntime.resume)',
  });
});
