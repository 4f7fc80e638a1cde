// Issue 7 memory figures: what an idle session costs, and RSS/heap before and after 1000
// sequential cells (after a GC on both sides).
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { HostClient } from '../host/index.js';
import { SessionRuntime } from '../src/index.js';
import { check, quietLogger, round, type ResultRow } from './common.js';
import { listeningHosts } from './peers/subject.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function settle(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return process.memoryUsage();
}

const MiB = 1024 * 1024;

/** A process's resident set (Linux), in MiB. */
function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? Number.NaN) / 1024;
}

/** One codecell-host process's RSS with one session that ran a cell, then with 1 000 idle ones. */
async function idleSessionsInOneHost(): Promise<ResultRow> {
  const delegate = { invokeTool: async () => null, notify: async () => {} };
  const client = await HostClient.spawn({ processes: 1, logger: quietLogger, stderr: 'ignore' });
  const pid = client.pid ?? 0;
  const first = await client.createSession(delegate);
  check(
    (await (await first.execute({ source: 'text(1)' })).initialEvent).kind === 'completed',
    'the first remote cell did not complete',
  );
  const before = rssOf(pid);
  for (let i = 0; i < 999; i++) await client.createSession(delegate);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = rssOf(pid);
  await client.close();
  console.log(
    `\nmemory: one codecell-host with 1000 idle sessions: RSS ${after.toFixed(1)} MiB ` +
      `(${before.toFixed(1)} MiB with one)`,
  );
  return {
    name: 'memory: codecell-host RSS with 1000 idle sessions (MiB)',
    unit: 'MiB',
    median: round(after),
    p99: round(after),
    samples: 1000,
    baseline: `${round(before)} MiB with one session (target <= 100 MiB)`,
  };
}

/** A listening codecell-host's RSS per idle session, over one WebSocket connection. */
async function idleSessionsOverNetwork(): Promise<ResultRow> {
  const delegate = { invokeTool: async () => null, notify: async () => {} };
  const host = await listeningHosts(1);
  const client = await HostClient.connect({ hosts: host.urls, logger: quietLogger });
  const pid = host.pids[0] ?? 0;
  const first = await client.createSession(delegate);
  check(
    (await (await first.execute({ source: 'text(1)' })).initialEvent).kind === 'completed',
    'the first network cell did not complete',
  );
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = rssOf(pid);
  for (let i = 0; i < 999; i++) await client.createSession(delegate);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = rssOf(pid);
  await client.close();
  await host.stop();
  const perSession = ((after - before) * 1024) / 999;
  console.log(
    `\nmemory: codecell-host --listen with 1000 idle sessions: RSS ${after.toFixed(1)} MiB ` +
      `(${before.toFixed(1)} MiB with one), ${perSession.toFixed(1)} KiB per session`,
  );
  return {
    name: 'memory: codecell-host --listen RSS per idle session (KiB)',
    unit: 'KiB',
    median: round(perSession),
    p99: round(perSession),
    samples: 999,
    baseline: `RSS ${round(before)} -> ${round(after)} MiB over 999 sessions on one connection`,
  };
}

/**
 * One codecell-host over many cells (SPEC §8: a long-lived host plateaus): cells with 1 KB of
 * output and a tool call, then cells terminated while a client tool hangs. The slope is the RSS
 * growth from cell 1 000 to the last, per 1 000 cells (target: < 8 MiB from 1 000 to 5 000).
 */
async function hostRssSlope(quick: boolean): Promise<ResultRow> {
  const [completed, terminated] = quick ? [1_500, 500] : [4_000, 1_000];
  const client = await HostClient.spawn({ processes: 1, logger: quietLogger, stderr: 'ignore' });
  const pid = client.pid ?? 0;
  const delegate = {
    invokeTool: async (call: { tool: { name: string } }) =>
      call.tool.name === 'hang' ? new Promise<never>(() => {}) : { ok: 1 },
    notify: async () => {},
  };
  // A short deadline: each terminated cell waits for its hanging client tool that long.
  const session = await client.createSession(delegate, {
    tools: [{ name: 'u' }, { name: 'hang' }],
    callbackAbortDeadlineMs: 5,
  });
  let at1000 = 0;
  for (let i = 1; i <= completed + terminated; i++) {
    if (i <= completed) {
      const event = await (await session.execute({ source: 'text("x".repeat(1000)); await tools.u({})' })).initialEvent;
      check(event.kind === 'completed' && event.items.length === 1, 'a host cell did not complete with its output');
    } else {
      const { cellId, initialEvent } = await session.execute(
        { source: 'text("x".repeat(1000)); await tools.hang({})' },
        { kind: 'pendingFrontier' },
      );
      check((await initialEvent).kind === 'pending', 'a host cell did not wait on its tool');
      check((await session.terminate(cellId)).kind === 'terminated', 'a host cell was not terminated');
    }
    if (i === 1_000) at1000 = rssOf(pid);
  }
  const end = rssOf(pid);
  await client.close();
  const cells = completed + terminated;
  const slope = (end - at1000) / ((cells - 1_000) / 1_000);
  console.log(
    `\nmemory: one codecell-host over ${cells} cells: RSS ${at1000.toFixed(1)} MiB at cell 1000, ` +
      `${end.toFixed(1)} MiB at cell ${cells}`,
  );
  return {
    name: `memory: codecell-host RSS slope per 1000 cells (cells 1000 to ${cells}, ${terminated} of them terminated)`,
    unit: 'MiB',
    median: round(slope),
    p99: round(slope),
    samples: cells,
    baseline: `RSS ${round(at1000)} -> ${round(end)} MiB (target: < 8 MiB in all from cell 1000 to 5000)`,
  };
}

export async function memory(quick: boolean): Promise<ResultRow[]> {
  const delegate = { invokeTool: async () => null, notify: async () => {} };
  const idleCount = 200;
  const before = await settle();
  const sessions = Array.from({ length: idleCount }, () => new SessionRuntime(delegate, { logger: quietLogger }));
  const withSessions = await settle();
  const perSessionKiB = (withSessions.heapUsed - before.heapUsed) / idleCount / 1024;
  await Promise.all(sessions.map((session) => session.shutdown()));

  const cells = quick ? 200 : 1000;
  const runtime = new SessionRuntime(delegate, { logger: quietLogger });
  const run = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const event = await (await runtime.execute({ source: 'text(1)' })).initialEvent;
      check(event.kind === 'completed', 'a cell did not complete');
    }
  };
  await run(50);
  const start = await settle();
  await run(cells);
  const end = await settle();
  await runtime.shutdown();
  console.log(
    `\nmemory: idle session ${perSessionKiB.toFixed(1)} KiB of heap; ${cells} cells: RSS ` +
      `${(start.rss / MiB).toFixed(1)} -> ${(end.rss / MiB).toFixed(1)} MiB, heap ` +
      `${(start.heapUsed / MiB).toFixed(1)} -> ${(end.heapUsed / MiB).toFixed(1)} MiB`,
  );
  return [
    await hostRssSlope(quick),
    await idleSessionsInOneHost(),
    await idleSessionsOverNetwork(),
    {
      name: 'memory: heap per idle session',
      unit: 'KiB',
      median: round(perSessionKiB),
      p99: round(perSessionKiB),
      samples: idleCount,
    },
    {
      name: `memory: RSS growth over ${cells} sequential cells (MiB)`,
      unit: 'MiB',
      median: round((end.rss - start.rss) / MiB),
      p99: round((end.rss - start.rss) / MiB),
      samples: cells,
      baseline: `RSS ${round(start.rss / MiB)} -> ${round(end.rss / MiB)} MiB`,
    },
    {
      name: `memory: heap growth over ${cells} sequential cells (MiB)`,
      unit: 'MiB',
      median: round((end.heapUsed - start.heapUsed) / MiB),
      p99: round((end.heapUsed - start.heapUsed) / MiB),
      samples: cells,
      baseline: `heap ${round(start.heapUsed / MiB)} -> ${round(end.heapUsed / MiB)} MiB`,
    },
  ];
}
