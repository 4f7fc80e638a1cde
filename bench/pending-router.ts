// SPEC §10.5: PendingRouter buffer+flush throughput, eviction cost at the bound, and whether the
// cost per message stays flat as the number of entries per key grows.
import { Bench } from 'tinybench';
import { PendingRouter } from '../src/index.js';
import { check, quietLogger, round, type ResultRow } from './common.js';

function bufferAndFlush(keys: number, perKey: number): number {
  const router = new PendingRouter<number, number, never>({
    maxEntriesPerKey: perKey,
    maxPendingKeys: keys,
    logger: quietLogger,
  });
  const guard = router.begin();
  for (let i = 0; i < perKey; i++) {
    for (let key = 0; key < keys; key++) router.routeNotification(key, i);
  }
  let delivered = 0;
  let last = -1;
  for (let key = 0; key < keys; key++) {
    last = -1;
    router.register(key, (entry) => {
      if (entry.type === 'notification') {
        check(entry.message === last + 1, 'entries flushed out of order');
        last = entry.message;
      }
      delivered++;
    });
  }
  guard.release();
  return delivered;
}

/** Routes `messages` to one key past its bound, then flushes: the number evicted (one warning). */
function evictAtBound(messages: number): number {
  const warnings: string[] = [];
  const logger = { ...quietLogger, warn: (message: string) => void warnings.push(message) };
  const router = new PendingRouter<number, number, never>({ logger });
  const guard = router.begin();
  for (let i = 0; i < messages; i++) router.routeNotification(0, i);
  let delivered = 0;
  router.register(0, () => {
    delivered++;
  });
  guard.release();
  check(warnings.length === (delivered < messages ? 1 : 0), `${warnings.length} warnings for one key`);
  return messages - delivered;
}

const nsPerMessage = (ms: number, messages: number): number => (ms * 1e6) / messages;

export async function pendingRouter(quick: boolean): Promise<ResultRow[]> {
  const total = quick ? 100_000 : 1_000_000;
  check(bufferAndFlush(10, 50) === 500, 'buffer+flush lost messages');
  check(evictAtBound(1_000) === 1_000 - 128, 'eviction count is wrong');

  const perKeySizes = [16, 128, 1024, 8192];
  const bench = new Bench({ name: 'PendingRouter', iterations: quick ? 3 : 10, time: 0 });
  bench.add(`buffer+flush ${total} msgs over 1000 keys`, () => {
    check(bufferAndFlush(1000, total / 1000) === total, 'lost messages');
  });
  bench.add(`evict at the bound (${total} msgs)`, () => {
    evictAtBound(total);
  });
  for (const perKey of perKeySizes) {
    const keys = Math.floor(total / perKey);
    bench.add(`buffer+flush ${perKey} per key (${keys * perKey} msgs)`, () => {
      bufferAndFlush(keys, perKey);
    });
  }
  await bench.run();
  console.log(`\n${bench.name}`);
  console.table(bench.table());

  const rows: ResultRow[] = [];
  for (const task of bench.tasks) {
    const result = task.result;
    if (result === undefined || !('latency' in result)) throw new Error(`task ${task.name} did not run`);
    const { p50, p99, samplesCount } = result.latency;
    const base = { name: `${bench.name}: ${task.name}`, samples: samplesCount };
    if (task.name.startsWith('buffer+flush') && task.name.includes('over 1000 keys')) {
      rows.push({
        ...base,
        unit: 'msg/s',
        median: Math.round(total / (p50 / 1000)),
        p99: Math.round(total / (p99 / 1000)),
      });
    } else {
      const messages = Number(/\((\d+) msgs\)/.exec(task.name)?.[1] ?? total);
      rows.push({
        ...base,
        unit: 'ns/msg',
        median: round(nsPerMessage(p50, messages)),
        p99: round(nsPerMessage(p99, messages)),
      });
    }
  }
  const flat = rows.filter((row) => row.name.includes('per key'));
  const smallest = flat[0];
  const largest = flat.at(-1);
  if (smallest !== undefined && largest !== undefined) {
    largest.ratio = round(largest.median / smallest.median);
    largest.baseline = smallest.name;
  }
  return rows;
}
