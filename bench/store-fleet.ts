// Issue 83 (SPEC §16): an agent that holds many sessions. N sessions (10 000; 1 000 with --quick)
// kept in one SQLite store by this process, their leases at the default 10 s: the share of a core
// their renewals take (one statement a period for all of them), measured over 20 s while they are
// otherwise idle; then their owner stops renewing, and another process's recovery adopts all of
// them once their leases ran out: how long it takes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionRuntime, sqliteStore, type CodeCellStore, type SessionRuntimeDelegate } from '../src/index.js';
import { quietLogger, round, type ResultRow } from './common.js';

const delegate: SessionRuntimeDelegate = { invokeTool: async () => null, notify: async () => {} };

/** `store` whose renewals stop (the owner's process is gone) once `alive.value` is false. */
function owned(store: CodeCellStore, alive: { value: boolean }): CodeCellStore {
  return {
    name: store.name,
    create: (...args) => store.create(...args),
    adopt: (...args) => store.adopt(...args),
    renew: (...args) => (alive.value ? store.renew(...args) : new Promise<string[]>(() => {})),
    append: (...args) => store.append(...args),
    rewrite: (...args) => store.rewrite(...args),
    records: (...args) => store.records(...args),
    sessions: () => store.sessions(),
    now: () => (store.now as () => Promise<number>)(),
    remove: (...args) => store.remove(...args),
    close: () => store.close(),
  };
}

export async function storeFleet(quick: boolean): Promise<ResultRow[]> {
  const count = quick ? 1_000 : 10_000;
  const folder = mkdtempSync(join(tmpdir(), 'codecell-fleet-'));
  const store = sqliteStore({ path: join(folder, 'fleet.db') });
  const alive = { value: true };
  const mine = owned(store, alive);
  try {
    const sessions = Array.from(
      { length: count },
      (_, n) => new SessionRuntime(delegate, { store: mine, key: `fleet-${n}`, logger: quietLogger }),
    );
    while ((await store.sessions()).length < count) await new Promise((resolve) => setTimeout(resolve, 100));
    // Settled in: what holding them costs, over 20 s (two renewals a lease's third).
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const cpu = process.cpuUsage();
    const began = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const { user, system } = process.cpuUsage(cpu);
    const share = (user + system) / 1_000 / (performance.now() - began);
    // The owner is gone: its leases run out, and another process recovers every session.
    alive.value = false;
    const until = Math.max(...(await store.sessions()).map((info) => info.leaseExpiresAt));
    while (Date.now() <= until) await new Promise((resolve) => setTimeout(resolve, 100));
    const recovering = performance.now();
    const elsewhere = owned(store, { value: true });
    const recovered = await SessionRuntime.recover(elsewhere, () => delegate, { logger: quietLogger });
    const took = performance.now() - recovering;
    if (recovered.length !== count) throw new Error(`recovered ${recovered.length} of ${count} sessions`);
    await Promise.all(recovered.map((session) => session.shutdown()));
    void sessions;
    const row = (name: string, unit: ResultRow['unit'], value: number): ResultRow => ({
      name: `store fleet: ${name}, ${count} sessions in one SQLite store`,
      unit,
      median: value,
      p99: value,
      samples: 1,
    });
    return [
      row('share of a core their lease renewals take (10 s leases)', 'ratio', round(share)),
      row('recovering all of them after their owner is gone', 'ms', round(took)),
    ];
  } finally {
    await store.close().catch(() => {});
    rmSync(folder, { recursive: true, force: true });
  }
}
