// `npm run soak:rehome`: the measurements of issue 52 (sessions outlive their host), on loopback
// with four `codecell-host --listen` processes at 127.0.0.2–5 on one port. Not a timed test: it
// prints what it saw and exits 1 if a promise was broken.
//   kill:    400 sessions (each with a stored value) run cells of tool calls; kill -9 one host.
//            Every session goes on with its value; each cell that ran on the dead host (with no
//            journal: one with a journal runs again, replay-soak.ts) ends `hostLost` within 2 s,
//            listing exactly the tool calls its delegate saw.
//   rolling: 100 sessions run cells back to back (each adds one to a stored counter) while each
//            host in turn is sent SIGTERM and replaced by a fresh one: 0 failed cells, 0 lost counts.
//   again:   one spawned-host session re-homed 10 times in a row keeps working; the client's heap after.
import { HostClient, type RemoteSession } from '../host/index.js';
import type { CellEvent, JsonValue, NestedToolCall, SessionRuntimeDelegate } from '../src/index.js';
import { check, quietLogger } from './common.js';
import { ADDRESSES, freePort, startHost, type Host } from './soak-hosts.js';

const TOOLS = [{ name: 'tick' }];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A delegate whose tick answers after `ms`, keeping its own log: each call and whether it answered. */
function ticking(ms: number): SessionRuntimeDelegate & { log: Map<string, { callId: string; answered: boolean }[]> } {
  const log = new Map<string, { callId: string; answered: boolean }[]>();
  return {
    log,
    async invokeTool(call: NestedToolCall): Promise<JsonValue> {
      const entry = { callId: call.callId, answered: false };
      log.set(call.cellId, [...(log.get(call.cellId) ?? []), entry]);
      await sleep(ms);
      entry.answered = true;
      return { ok: true };
    },
    async notify() {},
  };
}

async function kill(): Promise<boolean> {
  const port = await freePort();
  const hosts = await Promise.all(ADDRESSES.map((address) => startHost(address, port)));
  const client = await HostClient.connect({ hosts: hosts.map((host) => host.url), logger: quietLogger });
  const sessions: { session: RemoteSession; delegate: ReturnType<typeof ticking>; cellId: string }[] = [];
  for (let i = 0; i < 400; i++) {
    const delegate = ticking(20);
    const session = await client.createSession(delegate, { tools: TOOLS });
    await (
      await session.execute({ source: `store("id", ${i})` })
    ).initialEvent;
    const started = await session.execute(
      // No journal: this soak is about a cell that cannot run again (replay-soak.ts has those).
      { source: 'for (let i = 0; i < 1000; i++) await tools.tick({ i })', limits: { journalMaxBytes: 0 } },
      { kind: 'yieldAfter', ms: 0 },
    );
    sessions.push({ session, delegate, cellId: started.cellId });
  }
  const doomed = hosts[0] as Host;
  const onDoomed = sessions.filter(({ session }) => session.host === doomed.url);
  const ends = onDoomed.map(({ session, cellId }) => session.observe(cellId, { kind: 'yieldAfter', ms: 60_000 }));
  await sleep(500);
  doomed.child.kill('SIGKILL');
  const killedAt = performance.now();
  const ended = await Promise.all(ends.map((end) => end.then((event) => ({ event, at: performance.now() }))));
  let wrongLists = 0;
  let late = 0;
  ended.forEach(({ event, at }, i) => {
    const { delegate, cellId } = onDoomed[i] as (typeof onDoomed)[0];
    if (at - killedAt > 2_000) late++;
    if (!exactCalls(event, delegate.log.get(cellId) ?? [])) wrongLists++;
  });
  for (const { session, cellId } of sessions)
    if (session.host !== doomed.url) await session.terminate(cellId).catch(() => {});
  let lostValues = 0;
  let deadSessions = 0;
  await Promise.all(
    sessions.map(async ({ session }, i) => {
      if (!session.isAlive) return void deadSessions++;
      const next = await session.execute({ source: 'text(String(load("id")))' });
      const event = await next.initialEvent;
      if (event.items[0]?.type !== 'text' || event.items[0].text !== String(i)) lostValues++;
    }),
  );
  const slowest = Math.max(...ended.map(({ at }) => at - killedAt));
  console.log(
    `kill -9 1 of 4 hosts, 400 sessions: ${onDoomed.length} on it; sessions lost ${deadSessions}, stored values ` +
      `lost ${lostValues}; its cells ended hostLost in ≤ ${Math.round(slowest)} ms (${late} over 2 s); ` +
      `tool-call lists that differ from the delegate's log: ${wrongLists}`,
  );
  await client.close();
  for (const host of hosts) host.child.kill('SIGKILL');
  return deadSessions === 0 && lostValues === 0 && late === 0 && wrongLists === 0;
}

/** The lost cell's calls are exactly the delegate's, and `returned` only where the delegate answered. */
function exactCalls(event: CellEvent, log: { callId: string; answered: boolean }[]): boolean {
  if (event.kind !== 'terminated' || event.reason !== 'hostLost' || event.toolCalls === undefined) return false;
  const calls = event.toolCalls;
  if (calls.length !== log.length) return false;
  return calls.every((call, i) => call.callId === log[i]?.callId && (call.outcome !== 'returned' || log[i].answered));
}

async function rolling(): Promise<boolean> {
  const port = await freePort();
  const hosts = await Promise.all(ADDRESSES.map((address) => startHost(address, port)));
  const client = await HostClient.connect({ hosts: hosts.map((host) => host.url), logger: quietLogger });
  let stop = false;
  let failed = 0;
  let completed = 0;
  const counts: number[] = [];
  const workers = Array.from({ length: 100 }, async (_, i) => {
    const session = await client.createSession(ticking(2), { tools: TOOLS });
    counts[i] = 0;
    while (!stop) {
      try {
        const started = await session.execute({
          source: 'await tools.tick({}); await tools.tick({}); store("n", (load("n") ?? 0) + 1)',
        });
        const event = await started.initialEvent;
        if (event.kind === 'completed' && event.error === undefined) counts[i] = (counts[i] ?? 0) + 1;
        else failed++;
      } catch {
        failed++;
      }
      completed++;
    }
    const check = await session.execute({ source: 'text(String(load("n") ?? 0))' });
    const event = await check.initialEvent;
    return event.items[0]?.type === 'text' && event.items[0].text === String(counts[i]);
  });
  await sleep(1_000);
  for (const [i, host] of hosts.entries()) {
    const signalled = performance.now();
    host.child.kill('SIGTERM');
    await host.exited;
    if (process.env.SOAK_VERBOSE !== undefined)
      console.log(`host ${i} left ${Math.round(performance.now() - signalled)} ms after SIGTERM; ${completed} cells`);
    hosts[i] = await startHost(ADDRESSES[i] as string, port);
    await sleep(1_500);
  }
  stop = true;
  const kept = await Promise.all(workers);
  const lost = kept.filter((ok) => !ok).length;
  console.log(
    `rolling restart of 4 hosts, 100 sessions running cells back to back: ${completed} cells, ${failed} failed, ` +
      `${lost} sessions whose stored counter differs from their completed cells`,
  );
  await client.close();
  for (const host of hosts) host.child.kill('SIGKILL');
  return failed === 0 && lost === 0;
}

async function again(): Promise<boolean> {
  const client = await HostClient.spawn({ processes: 2, logger: quietLogger });
  const session = await client.createSession(ticking(1), { tools: TOOLS });
  const heapBefore = process.memoryUsage().heapUsed;
  let ok = true;
  for (let i = 1; i <= 10; i++) {
    await (
      await session.execute({ source: `store("round", ${i}); store("blob", "x".repeat(100000))` })
    ).initialEvent;
    const pid = session.hostPid as number;
    process.kill(pid, 'SIGKILL');
    while (session.hostPid === pid || session.hostPid === undefined) await sleep(20);
    const event = await (await session.execute({ source: 'text(String(load("round")))' })).initialEvent;
    ok &&= session.isAlive && event.items[0]?.type === 'text' && event.items[0].text === String(i);
  }
  const heapAfter = process.memoryUsage().heapUsed;
  console.log(
    `one session re-homed 10 times: ${ok ? 'kept its values each time' : 'FAILED'}; client heap ` +
      `${(heapBefore / 2 ** 20).toFixed(1)} → ${(heapAfter / 2 ** 20).toFixed(1)} MiB`,
  );
  await client.close();
  return ok;
}

const which = process.argv[2];
const results: boolean[] = [];
if (which === undefined || which === 'kill') results.push(await kill());
if (which === undefined || which === 'rolling') results.push(await rolling());
if (which === undefined || which === 'again') results.push(await again());
check(
  results.every((ok) => ok),
  'a promise of issue 52 was broken (see above)',
);
process.exit(0);
