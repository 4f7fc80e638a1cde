import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  OVERFLOW_MESSAGE,
  PendingRouter,
  ROUTING_ENDED_MESSAGE,
  type RoutedEntry,
  type RoutingFailure,
} from '../src/index.js';
import { INTERNAL_ERROR, INVALID_PARAMS } from '../src/internal.js';
import { capturingLogger } from './helpers.js';

type Entry = RoutedEntry<string, string>;

function request(message: string, answers: Map<string, RoutingFailure>): Entry {
  return { type: 'request', message, fail: (failure) => answers.set(message, failure) };
}

const note = (message: string): Entry => ({ type: 'notification', message });

function router(options: { label?: string; maxEntriesPerKey?: number; maxPendingKeys?: number } = {}) {
  const logger = capturingLogger();
  return { logger, router: new PendingRouter<string, string, string>({ logger, ...options }) };
}

test('with no guard held, a notification for an unknown key is dropped with a warning and a request is answered -32602', () => {
  const { router: r, logger } = router({ label: 'session' });
  const answers = new Map<string, RoutingFailure>();
  r.route('s1', note('n1'));
  r.route('s1', request('r1', answers));
  assert.equal(logger.warnings.length, 1);
  assert.deepEqual(answers.get('r1'), { code: INVALID_PARAMS, message: 'unknown session s1' });
  assert.equal(r.pendingKeys, 0);
});

test('the unknown answer names cells for a cell router', () => {
  const { router: r } = router({ label: 'cell' });
  const answers = new Map<string, RoutingFailure>();
  r.route('7', request('r', answers));
  assert.deepEqual(answers.get('r'), { code: INVALID_PARAMS, message: 'unknown cell 7' });
});

test('with a guard held, entries are buffered and flushed on register in arrival order, types interleaved', () => {
  const { router: r } = router();
  const answers = new Map<string, RoutingFailure>();
  const guard = r.begin();
  r.route('s1', note('n1'));
  r.route('s1', request('r1', answers));
  r.route('s1', note('n2'));
  r.route('s2', note('other'));
  const seen: string[] = [];
  r.register('s1', (entry) => seen.push(`${entry.type}:${entry.message}`));
  assert.deepEqual(seen, ['notification:n1', 'request:r1', 'notification:n2']);
  r.route('s1', note('n3'));
  assert.deepEqual(seen.at(-1), 'notification:n3');
  assert.equal(answers.size, 0);
  guard.release();
});

test('the 129th entry for a key evicts the oldest; an evicted request is answered -32603 overflow, the 128 newest flush in order', () => {
  const { router: r, logger } = router();
  const answers = new Map<string, RoutingFailure>();
  const guard = r.begin();
  r.route('s', request('r0', answers));
  for (let i = 1; i <= 128; i++) r.route('s', note(`n${i}`));
  assert.deepEqual(answers.get('r0'), { code: INTERNAL_ERROR, message: OVERFLOW_MESSAGE });
  r.route('s', note('n129'));
  r.route('s', note('n130'));
  assert.equal(logger.warnings.length, 0, 'evictions are not reported one by one');
  const seen: string[] = [];
  r.register('s', (entry) => seen.push(entry.message));
  assert.deepEqual(
    seen,
    Array.from({ length: 128 }, (_, i) => `n${i + 3}`),
  );
  assert.deepEqual(
    logger.warnings,
    [`codecell: session s lost its 2 oldest held notification(s) (${OVERFLOW_MESSAGE})`],
    'one warning for the key, with the count',
  );
  guard.release();
});

test('releasing the last guard answers held requests -32603 "routing ended" and drops notifications; an earlier release keeps buffering', () => {
  const { router: r, logger } = router();
  const answers = new Map<string, RoutingFailure>();
  const first = r.begin();
  const second = r.begin();
  r.route('s', request('r1', answers));
  r.route('s', note('n1'));
  first.release();
  assert.equal(answers.size, 0, 'one guard is still held');
  r.route('s', request('r2', answers));
  second[Symbol.dispose]();
  assert.deepEqual(answers.get('r1'), { code: INTERNAL_ERROR, message: ROUTING_ENDED_MESSAGE });
  assert.deepEqual(answers.get('r2'), { code: INTERNAL_ERROR, message: ROUTING_ENDED_MESSAGE });
  assert.notEqual(ROUTING_ENDED_MESSAGE, OVERFLOW_MESSAGE);
  assert.equal(logger.warnings.length, 1);
  assert.equal(r.pendingKeys, 0);
  r.route('s', request('r3', answers));
  assert.equal(answers.get('r3')?.code, INVALID_PARAMS, 'with no guard, the key is unroutable again');
});

test('unregister drops the key buffer, answering held requests, and releasing a guard twice is harmless', () => {
  const { router: r } = router();
  const answers = new Map<string, RoutingFailure>();
  const guard = r.begin();
  const other = r.begin();
  r.route('s', request('r1', answers));
  r.route('s', note('n1'));
  r.unregister('s');
  assert.equal(r.pendingKeys, 0);
  assert.equal(answers.get('r1')?.code, INTERNAL_ERROR);
  guard.release();
  guard.release();
  assert.equal(r.guards, 1);
  other.release();
  assert.equal(r.guards, 0);
});

test('a message routed while register is flushing lands after the buffered ones, never before', () => {
  const { router: r } = router();
  const guard = r.begin();
  r.route('s', note('n1'));
  r.route('s', note('n2'));
  const seen: string[] = [];
  r.register('s', (entry) => {
    seen.push(entry.message);
    if (entry.message === 'n1') r.route('s', note('during'));
  });
  r.route('s', note('after'));
  assert.deepEqual(seen, ['n1', 'n2', 'during', 'after']);
  guard.release();
});

test('beyond the pending-key bound, messages for new keys are answered instead of held', () => {
  const { router: r } = router({ maxPendingKeys: 2 });
  const answers = new Map<string, RoutingFailure>();
  const guard = r.begin();
  r.route('a', note('1'));
  r.route('b', note('2'));
  r.route('c', request('rc', answers));
  assert.equal(r.pendingKeys, 2);
  assert.deepEqual(answers.get('rc'), { code: INVALID_PARAMS, message: 'unknown session c' });
  r.route('a', note('3'));
  const seen: string[] = [];
  r.register('a', (entry) => seen.push(entry.message));
  assert.deepEqual(seen, ['1', '3']);
  guard.release();
});

test('registering a key twice is refused', () => {
  const { router: r } = router();
  r.register('s', () => {});
  assert.throws(() => r.register('s', () => {}), { code: 'ERR_INVALID_REQUEST', message: /already registered/ });
});

test('bad options are refused with a CodeCellError', () => {
  assert.throws(() => new PendingRouter({ maxEntriesPerKey: 0 }), {
    code: 'ERR_INVALID_REQUEST',
    message: 'PendingRouter maxEntriesPerKey must be an integer >= 1',
  });
  assert.throws(() => new PendingRouter({ maxPendingKeys: 1.5 }), { code: 'ERR_INVALID_REQUEST' });
});

test('maxBytesPerKey evicts the oldest held entries by size: the size a notification was routed with, else sizeOf', () => {
  const logger = capturingLogger();
  const measured: string[] = [];
  const r = new PendingRouter<string, string, string>({
    maxBytesPerKey: 10,
    sizeOf: (entry) => {
      measured.push(String(entry.message));
      return String(entry.message).length;
    },
    logger,
  });
  const guard = r.begin();
  r.routeNotification('s', 'a', 4);
  r.routeNotification('s', 'b', 4);
  // 4 + 4 + 4 > 10: the oldest goes; the sizes given were used, never measured.
  r.routeNotification('s', 'c', 4);
  assert.deepEqual(measured, []);
  // Without a size, sizeOf measures it (and the newest is always kept, whatever its size).
  r.routeNotification('s', 'dddddddddddd');
  assert.deepEqual(measured, ['dddddddddddd']);
  const seen: string[] = [];
  r.register('s', (entry) => seen.push(entry.message));
  assert.deepEqual(seen, ['dddddddddddd']);
  assert.match(logger.warnings[0] ?? '', /lost its 3 oldest held notification/);
  guard.release();
});
