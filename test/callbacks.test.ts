import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallbackSet } from '../src/cell/callbacks.js';
import { Deadline } from '../src/cell/deadline.js';
import { CodeCellError } from '../src/errors.js';
import { deferred, hang, ms, untilAborted } from './helpers.js';

const reason = (): CodeCellError => new CodeCellError('ERR_CANCELLED', 'cancelled by the test');

test('settle() returns at the deadline when a callback ignores its signal', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 4 });
  const call = callbacks.runTool(hang);
  call.catch(() => {});
  await Promise.resolve();
  callbacks.abort(reason());
  const start = performance.now();
  await callbacks.settle(new Deadline(80));
  assert.ok(ms(start) >= 75, `waited ${ms(start)} ms`);
  await assert.rejects(call, { code: 'ERR_CANCELLED' });
});

test('settle() returns as soon as cooperative callbacks settle, well before the deadline', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 4 });
  const seen: AbortSignal[] = [];
  const call = callbacks.runTool((signal) => {
    seen.push(signal);
    return untilAborted(signal);
  });
  call.catch(() => {});
  await Promise.resolve();
  callbacks.abort(reason());
  const deadline = new Deadline(10_000);
  const start = performance.now();
  await callbacks.settle(deadline);
  deadline.clear();
  assert.ok(ms(start) < 5_000);
  assert.equal(seen[0]?.aborted, true);
  assert.ok(seen[0]?.reason instanceof CodeCellError);
});

test('a tool call cancelled while queued never enters the delegate', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 1 });
  const entered: number[] = [];
  const first = callbacks.runTool(() => {
    entered.push(1);
    return hang();
  });
  const second = callbacks.runTool(() => {
    entered.push(2);
    return Promise.resolve(2);
  });
  await Promise.resolve();
  callbacks.abort(reason());
  await assert.rejects(first, { code: 'ERR_CANCELLED' });
  await assert.rejects(second, { code: 'ERR_CANCELLED' });
  assert.deepEqual(entered, [1]);
});

test('calls launched after abort reject at once without entering the delegate', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 1 });
  callbacks.abort(reason(), ['tool']);
  let entered = false;
  await assert.rejects(
    callbacks.runTool(async () => {
      entered = true;
    }),
    { code: 'ERR_CANCELLED' },
  );
  assert.equal(entered, false);
  await callbacks.notify(async () => {});
});

test('a synchronous throw in a delegate becomes a rejection', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 1 });
  await assert.rejects(
    callbacks.runTool(() => {
      throw new Error('sync boom');
    }),
    { message: 'sync boom' },
  );
});

test('notifications run one at a time in order, and drainNotifications waits for them', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 1 });
  const order: string[] = [];
  let active = 0;
  const gates = [deferred(), deferred(), deferred()];
  gates.forEach((gate, index) => {
    void callbacks.notify(async () => {
      active++;
      assert.equal(active, 1);
      order.push(`start ${index}`);
      await gate.promise;
      order.push(`end ${index}`);
      active--;
    });
  });
  const drained = callbacks.drainNotifications(new AbortController().signal);
  gates[2]?.resolve();
  gates[1]?.resolve();
  gates[0]?.resolve();
  assert.equal(await drained, true);
  assert.deepEqual(order, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
});

test('drainNotifications gives up when its signal aborts', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 1 });
  void callbacks.notify(hang).catch(() => {});
  const stop = new AbortController();
  const drained = callbacks.drainNotifications(stop.signal);
  stop.abort();
  assert.equal(await drained, false);
});

test('an abandoned callback that settles late causes no unhandled rejection', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 1 });
  const late = deferred<number>();
  const call = callbacks.runTool(() => late.promise);
  call.catch(() => {});
  await Promise.resolve();
  callbacks.abort(reason());
  await callbacks.settle(new Deadline(10));
  late.reject(new Error('too late'));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(callbacks.size, 0);
});

/** A call's outcomes as callTool hands them over, in order. */
function outcomes(): { log: string[]; outcome: { value(value: unknown): void; error(error: unknown): void } } {
  const log: string[] = [];
  return {
    log,
    outcome: {
      value: (value) => log.push(`value ${String(value)}`),
      error: (error) => log.push(`error ${(error as { code?: string; message?: string }).code ?? String(error)}`),
    },
  };
}

test('callTool hands over the delegate value once, after the delegate settled', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 1 });
  const { log, outcome } = outcomes();
  const result = deferred<number>();
  callbacks.callTool(() => result.promise, outcome);
  assert.equal(callbacks.size, 1);
  result.resolve(7);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(log, ['value 7']);
  assert.equal(callbacks.size, 0);
});

test('a cancelled callTool hears the reason once, never the value its delegate gives later', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 1 });
  const { log, outcome } = outcomes();
  const late = deferred<number>();
  callbacks.callTool(() => late.promise, outcome);
  await Promise.resolve();
  callbacks.abort(reason(), ['tool']);
  // Heard after abort() returned, as a rejection would be.
  assert.deepEqual(log, []);
  await Promise.resolve();
  assert.deepEqual(log, ['error ERR_CANCELLED']);
  late.resolve(1);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(log, ['error ERR_CANCELLED']);
  assert.equal(callbacks.size, 0);
});

test('the tool slots go on: a call queued behind a settled one starts, in order', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 1 });
  const first = outcomes();
  const second = outcomes();
  const gate = deferred<number>();
  const entered: number[] = [];
  callbacks.callTool(() => (entered.push(1), gate.promise), first.outcome);
  callbacks.callTool(async () => (entered.push(2), 2), second.outcome);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(entered, [1]);
  gate.resolve(1);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(entered, [1, 2]);
  assert.deepEqual([...first.log, ...second.log], ['value 1', 'value 2']);
});

test('close() with nothing in flight aborts no signal, makes no reason, and refuses later calls with it', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 1 });
  let signal: AbortSignal | undefined;
  await callbacks.runTool(async (given) => {
    signal = given;
  });
  let made = 0;
  callbacks.close(() => (made++, reason()), ['tool']);
  assert.equal(signal?.aborted, false);
  assert.equal(made, 0);
  let entered = false;
  const refused = callbacks.runTool(async () => {
    entered = true;
  });
  await assert.rejects(refused, { code: 'ERR_CANCELLED' });
  await assert.rejects(
    callbacks.runTool(async () => {}),
    { code: 'ERR_CANCELLED' },
  );
  assert.equal(entered, false);
  assert.equal(made, 1);
  // Notifications were not closed.
  await callbacks.notify(async () => {});
});

test('close() with a call in flight cancels it like abort()', async () => {
  const callbacks = new CallbackSet({ maxConcurrentToolCalls: 1 });
  const seen: AbortSignal[] = [];
  const call = callbacks.runTool((signal) => (seen.push(signal), untilAborted(signal)));
  call.catch(() => {});
  await Promise.resolve();
  callbacks.close(reason, ['tool']);
  assert.equal(seen[0]?.aborted, true);
  await assert.rejects(call, { code: 'ERR_CANCELLED' });
});
