// Issue 83 (SPEC §16): an agent that holds many sessions. A child process holds N sessions
// (10 000; 1 000 with --quick) in one SQLite store, their leases at the default 10 s: the share of
// a core it spends on them (their renewals: one call a period for all of them) over 20 s while
// they are otherwise idle. Then it is killed with -9, and this process's recovery adopts all of
// them once their leases ran out: how long that takes.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SessionRuntime, sqliteStore, type SessionRuntimeDelegate } from '../src/index.js';
import { quietLogger, round, type ResultRow } from './common.js';

const delegate: SessionRuntimeDelegate = { invokeTool: async () => null, notify: async () => {} };

/** The child: holds `count` sessions in the store at `path`, says the share of a core it spends, and stays. */
async function hold(path: string, count: number): Promise<void> {
  const store = sqliteStore({ path });
  const sessions = Array.from(
    { length: count },
    (_, n) => new SessionRuntime(delegate, { store, key: `fleet-${n}`, logger: quietLogger }),
  );
  while ((await store.sessions()).length < count) await new Promise((resolve) => setTimeout(resolve, 100));
  // Settled in: what holding them costs, over 20 s (six renewals).
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const cpu = process.cpuUsage();
  const began = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 20_000));
  const { user, system } = process.cpuUsage(cpu);
  console.log(JSON.stringify({ share: (user + system) / 1_000 / (performance.now() - began) }));
  setInterval(() => void sessions, 60_000); // held until killed
}

export async function storeFleet(quick: boolean): Promise<ResultRow[]> {
  const count = quick ? 1_000 : 10_000;
  const folder = mkdtempSync(join(tmpdir(), 'codecell-fleet-'));
  const path = join(folder, 'fleet.db');
  const child = spawn(
    process.execPath,
    ['--no-node-snapshot', fileURLToPath(import.meta.url), '--hold', path, String(count)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = once(child, 'exit');
  try {
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const { share } = JSON.parse(line) as { share: number };
    child.kill('SIGKILL');
    await exited;
    // Its owner is gone: the leases run out, and this process recovers every session.
    const store = sqliteStore({ path });
    try {
      const until = Math.max(...(await store.sessions()).map((info) => info.leaseExpiresAt));
      while (Date.now() <= until) await new Promise((resolve) => setTimeout(resolve, 100));
      const recovering = performance.now();
      const recovered = await SessionRuntime.recover(store, () => delegate, { logger: quietLogger });
      const took = performance.now() - recovering;
      if (recovered.length !== count) throw new Error(`recovered ${recovered.length} of ${count} sessions`);
      await Promise.all(recovered.map((session) => session.shutdown()));
      const row = (name: string, unit: ResultRow['unit'], value: number): ResultRow => ({
        name: `store fleet: ${name}, ${count} sessions in one SQLite store`,
        unit,
        median: value,
        p99: value,
        samples: 1,
      });
      return [
        row('share of a core the process holding them takes (10 s leases)', 'ratio', round(share)),
        row('recovering all of them after their owner is gone', 'ms', round(took)),
      ];
    } finally {
      await store.close().catch(() => {});
    }
  } finally {
    child.kill('SIGKILL');
    rmSync(folder, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--hold') await hold(process.argv[3] as string, Number(process.argv[4]));
