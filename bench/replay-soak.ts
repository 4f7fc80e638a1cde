// `npm run soak:replay`: the measurements of issue 53 (durable cells), on loopback with four
// `codecell-host --listen` processes at 127.0.0.2–5 on one port. Not a timed test: it prints what
// it saw and exits 1 if a promise was broken.
//   kill:    200 sessions each run a cell of 10–50 sequential and parallel tool calls whose logic
//            reads Math.random(), Date.now() and timers; kill -9 one host. Every cell completes
//            (those of the dead host on another, from their journals); each delegate saw each call
//            once; each cell's output agrees with the inputs its delegate saw.
//   paused:  1 000 cells paused by a CellInterrupt (waiting for approval) in one host process: the
//            client's RSS, and none holds a running-cell slot (a new cell runs at once).
//   rolling: 100 sessions run cells back to back (a fifth of them long) while every host in turn
//            drains (SIGTERM, a short --drain-ms) and is replaced at a new address, found through a `dns` entry
//            resolved again (as a headless Service): a cell caught by one drain and then by the
//            next runs on each time. 0 cells lost, 0 calls made twice, 0 stored counts lost.
//   bomb:    a cell that exhausts its isolate's memory beside innocent cells of its session: its
//            host names it (host/catastrophe) and dies; it ends memoryLimit and never runs again;
//            its neighbours complete elsewhere; no other host dies.
import { CellInterrupt, type JsonValue, type NestedToolCall, type SessionRuntimeDelegate } from '../src/index.js';
import { HostClient, type RemoteSession } from '../host/index.js';
import { check, quietLogger } from './common.js';
import { ADDRESSES, freePort, NEW_ADDRESSES, startHost, type Host } from './soak-hosts.js';

const TOOLS = [{ name: 'tick' }];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `calls` tool calls, one at a time or three at once as Math.random() and the clock decide, some
 * after a timer; the text sums what it sent and got, so it can be checked against the delegate.
 */
function cellSource(calls: number): string {
  return `
    const started = Date.now();
    let sent = 0, got = 0, made = 0;
    while (made < ${calls}) {
      const r = Math.random();
      const wide = (Date.now() - started) % 2 === 0 ? 3 : 2;
      if (r < 0.3 && made + wide <= ${calls}) {
        const inputs = Array.from({ length: wide }, (_, j) => ({ k: made + j, r }));
        const answers = await Promise.all(inputs.map((input) => tools.tick(input)));
        for (const answer of answers) { got += answer.v; sent += r; }
        made += wide;
      } else {
        if (r > 0.8) await new Promise((resolve) => setTimeout(resolve, 5));
        got += (await tools.tick({ k: made, r })).v;
        sent += r;
        made++;
      }
    }
    text(JSON.stringify({ made, sent, got }));`;
}

/** tick answers `{ v: 2k }` after 5–25 ms; the log keeps every call it was asked, in order. */
function ticking(): SessionRuntimeDelegate & { calls: NestedToolCall[] } {
  const calls: NestedToolCall[] = [];
  return {
    calls,
    async invokeTool(call: NestedToolCall): Promise<JsonValue> {
      calls.push(call);
      await sleep(5 + (calls.length % 5) * 5);
      return { v: 2 * (call.input as { k: number }).k };
    },
    async notify() {},
  };
}

/** The cell's text agrees with what its delegate saw, each call once: the run was one run. */
function agrees(text: string | undefined, calls: readonly NestedToolCall[], expected: number): string | undefined {
  const ids = calls.map((call) => Number(call.callId.slice('tool-'.length))).sort((a, b) => a - b);
  if (ids.length !== expected || ids.some((id, i) => id !== i + 1)) return `calls ${ids.join(',')}`;
  const ordered = [...calls].sort((a, b) => Number(a.callId.slice(5)) - Number(b.callId.slice(5)));
  let sent = 0;
  let got = 0;
  for (const call of ordered) {
    const { k, r } = call.input as { k: number; r: number };
    sent += r;
    got += 2 * k;
  }
  const want = JSON.stringify({ made: expected, sent, got });
  return text === want ? undefined : `text ${text} against ${want}`;
}

async function kill(): Promise<boolean> {
  const port = await freePort();
  const hosts = await Promise.all(ADDRESSES.map((address) => startHost(address, port)));
  const client = await HostClient.connect({ hosts: hosts.map((host) => host.url), logger: quietLogger });
  const cells: { session: RemoteSession; delegate: ReturnType<typeof ticking>; cellId: string; calls: number }[] = [];
  for (let i = 0; i < 200; i++) {
    const delegate = ticking();
    const session = await client.createSession(delegate, { tools: TOOLS });
    const calls = 10 + (i % 41);
    const started = await session.execute({ source: cellSource(calls) }, { kind: 'yieldAfter', ms: 0 });
    await started.initialEvent;
    cells.push({ session, delegate, cellId: started.cellId, calls });
  }
  const doomed = hosts[0] as Host;
  const onDoomed = new Set(cells.filter(({ session }) => session.host === doomed.url));
  const ends = cells.map(({ session, cellId }) => session.observe(cellId, { kind: 'yieldAfter', ms: 120_000 }));
  doomed.child.kill('SIGKILL');
  const killedAt = performance.now();
  const ended = await Promise.all(ends.map((end) => end.then((event) => ({ event, at: performance.now() }))));
  let notCompleted = 0;
  const disagreeing: string[] = [];
  let slowest = 0;
  ended.forEach(({ event, at }, i) => {
    const cell = cells[i] as (typeof cells)[0];
    if (onDoomed.has(cell)) slowest = Math.max(slowest, at - killedAt);
    if (event.kind !== 'completed' || event.error !== undefined) {
      notCompleted++;
      const { kind, reason, error } = event as { kind: string; reason?: string; error?: string };
      return void disagreeing.push(
        `session ${i}: ${kind} ${reason ?? error ?? ''} (on the dead host: ${onDoomed.has(cell)})`,
      );
    }
    const texts = event.items.flatMap((item) => (item.type === 'text' ? [item.text] : []));
    const why = texts.length === 1 ? agrees(texts[0], cell.delegate.calls, cell.calls) : `texts ${texts.length}`;
    if (why !== undefined) disagreeing.push(`cell of session ${i}: ${why}`);
  });
  const moved = [...onDoomed].filter(({ session }) => session.host !== doomed.url).length;
  console.log(
    `kill -9 1 of 4 hosts, 200 sessions each running a cell of 10–50 calls: ${onDoomed.size} on it ` +
      `(${moved} moved), cells not completed ${notCompleted}, cells whose output or calls disagree with ` +
      `their delegate ${disagreeing.length - notCompleted}; the dead host's cells completed ≤ ` +
      `${Math.round(slowest)} ms after the kill`,
  );
  for (const line of disagreeing.slice(0, 5)) console.log(`  ${line}`);
  await client.close();
  for (const host of hosts) host.child.kill('SIGKILL');
  return disagreeing.length === 0 && onDoomed.size > 0;
}

async function paused(): Promise<boolean> {
  const client = await HostClient.spawn({ processes: 1, logger: quietLogger });
  const delegate: SessionRuntimeDelegate = {
    invokeTool: async (call) => {
      if (call.tool.name === 'approve') throw new CellInterrupt({ approve: (call.input as { n: number }).n });
      return { ok: true };
    },
    notify: async () => {},
  };
  const tools = [{ name: 'tick' }, { name: 'approve' }];
  const rssBefore = process.memoryUsage().rss;
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const sessions = await Promise.all(
    Array.from({ length: 20 }, () =>
      client.createSession(delegate, { tools, limits: { maxCellsPerSession: 64, maxRunningCells: 2 } }),
    ),
  );
  let interrupted = 0;
  await Promise.all(
    sessions.map(async (session, s) => {
      for (let i = 0; i < 50; i++) {
        const source = `await tools.tick({}); const ok = await tools.approve({ n: ${s * 50 + i} }); text(JSON.stringify(ok))`;
        const event = await (await session.execute({ source })).initialEvent;
        if (event.kind === 'interrupted') interrupted++;
      }
    }),
  );
  global.gc?.();
  const rss = process.memoryUsage().rss;
  // What the client keeps per paused cell (its ledger: what it runs, its journal, its paused event).
  const perCell = (process.memoryUsage().heapUsed - heapBefore) / 1_000;
  // None holds a running slot (maxRunningCells 2 per session): a new cell runs at once.
  const free = await (await (sessions[0] as RemoteSession).execute({ source: 'text("free")' })).initialEvent;
  const resumed = await (sessions[0] as RemoteSession).resumeCell('1', { result: { approved: true } });
  console.log(
    `1 000 cells paused for approval on one host: ${interrupted} interrupted; client RSS ` +
      `${(rss / 2 ** 20).toFixed(1)} MiB (${((rss - rssBefore) / 2 ** 20).toFixed(1)} MiB more than before), ` +
      `its heap ${(perCell / 1024).toFixed(1)} KiB more per paused cell (20 sessions' too); ` +
      `a new cell beside them ${free.kind}; one resumed ${resumed.kind} ${JSON.stringify(resumed.items)}`,
  );
  await client.close();
  return (
    interrupted === 1_000 &&
    perCell < 8 * 1024 &&
    rss < 128 * 2 ** 20 &&
    free.kind === 'completed' &&
    resumed.kind === 'completed'
  );
}

async function rolling(): Promise<boolean> {
  const port = await freePort();
  const live = new Map<string, Host>();
  for (const host of await Promise.all(ADDRESSES.map((address) => startHost(address, port, 300))))
    live.set(new URL(host.url).hostname, host);
  // The clients find the hosts through a name resolved again every 200 ms: the live ones.
  const client = await HostClient.connect({
    hosts: [{ dns: `codecell-hosts:${port}` }],
    resolve: async () => [...live.keys()],
    resolveIntervalMs: 200,
    logger: quietLogger,
  });
  let stop = false;
  let cells = 0;
  const failures: string[] = [];
  /** How often each cell ran again on another host (by session and cell). */
  const replays = new Map<string, number>();
  const workers = Array.from({ length: 100 }, async (_, i) => {
    const delegate = ticking();
    const session = await client.createSession(delegate, { tools: TOOLS });
    void (async () => {
      for await (const event of session.events())
        if (event.type === 'replayed' && 'cellId' in event) {
          const key = `${i}/${event.cellId}`;
          replays.set(key, (replays.get(key) ?? 0) + 1);
        }
    })().catch(() => {});
    let count = 0;
    while (!stop) {
      // A fifth of the sessions run long cells (~2 s): one caught by a drain may be by the next.
      const calls = i % 5 === 0 ? 150 : 10 + ((i + cells) % 21);
      const before = delegate.calls.length;
      try {
        const started = await session.execute(
          { source: `${cellSource(calls)}; store("n", (load("n") ?? 0) + 1)` },
          { kind: 'yieldAfter', ms: 120_000 },
        );
        const event = await started.initialEvent;
        const texts = event.items.flatMap((item) => (item.type === 'text' ? [item.text] : []));
        const why =
          event.kind !== 'completed' || event.error !== undefined
            ? `${event.kind} ${(event as { reason?: string }).reason ?? (event as { error?: string }).error ?? ''} ${(event as { detail?: string }).detail ?? ''}`
            : agrees(texts[0], delegate.calls.slice(before), calls);
        if (why === undefined) count++;
        else failures.push(`session ${i}: ${why}`);
      } catch (error) {
        failures.push(`session ${i}: ${(error as Error).message}`);
      }
      cells++;
    }
    const stored = await (await session.execute({ source: 'text(String(load("n") ?? 0))' })).initialEvent;
    const text = stored.items[0]?.type === 'text' ? stored.items[0].text : '';
    if (text !== String(count)) failures.push(`session ${i}: stored ${text}, completed ${count}`);
  });
  await sleep(1_500);
  // Each host in turn drains (its running cells caught at the end of --drain-ms), then comes back
  // at a new address: meanwhile its sessions move to the old hosts still up, whose drains catch
  // some of them again.
  for (const [index, address] of ADDRESSES.entries()) {
    const host = live.get(address) as Host;
    live.delete(address);
    host.child.kill('SIGTERM');
    await host.exited;
    live.set(NEW_ADDRESSES[index] as string, await startHost(NEW_ADDRESSES[index] as string, port, 300));
    await sleep(400);
  }
  await sleep(1_000);
  stop = true;
  await Promise.all(workers);
  const runs = [...replays.values()];
  console.log(
    `rolling restart of 4 hosts to new addresses (dns re-resolved), 100 sessions running cells of 10–30 ` +
      `(a fifth 150) calls ` +
      `back to back: ${cells} cells, ${failures.length} lost, failed or disagreeing with their delegate; ` +
      `${runs.length} cells ran again on another host, ${runs.filter((n) => n > 1).length} of them more than ` +
      `once (at most ${Math.max(0, ...runs)} times)`,
  );
  for (const line of failures.slice(0, 5)) console.log(`  ${line}`);
  await client.close();
  for (const host of live.values()) host.child.kill('SIGKILL');
  return failures.length === 0 && cells > 100;
}

async function bomb(): Promise<boolean> {
  const port = await freePort();
  const hosts = await Promise.all(ADDRESSES.map((address) => startHost(address, port)));
  const client = await HostClient.connect({ hosts: hosts.map((host) => host.url), logger: quietLogger });
  const delegate = ticking();
  const session = await client.createSession(delegate, { tools: TOOLS });
  const innocent = await Promise.all(
    [20, 25, 30].map((calls) => session.execute({ source: cellSource(calls) }, { kind: 'yieldAfter', ms: 120_000 })),
  );
  const first = hosts.find((host) => host.url === session.host);
  const source = 'await tools.tick({ k: 0, r: 0 }); const m = new Map(); for (let i = 0; ; i++) m.set(i, { i })';
  const started = await session.execute({ source, limits: { memoryMb: 32 } }, { kind: 'yieldAfter', ms: 120_000 });
  const [end, ...rest] = await Promise.all([started.initialEvent, ...innocent.map((cell) => cell.initialEvent)]);
  const exited = await Promise.all(
    hosts.map((host) => Promise.race([host.exited.then(() => true), sleep(1_000).then(() => false)])),
  );
  const bombCalls = delegate.calls.filter((call) => call.cellId === started.cellId).length;
  const ok =
    end?.kind === 'terminated' &&
    end.reason === 'memoryLimit' &&
    bombCalls === 1 &&
    rest.every((event) => event.kind === 'completed' && event.error === undefined) &&
    exited.filter(Boolean).length === 1 &&
    first !== undefined &&
    exited[hosts.indexOf(first)] === true;
  console.log(
    `a memory bomb beside 3 innocent cells: it ended ${end?.kind} ${(end as { reason?: string }).reason ?? ''} ` +
      `(its tool call made ${bombCalls} time(s)); its neighbours ${rest.map((event) => event.kind).join(', ')}; ` +
      `hosts that died: ${exited.filter(Boolean).length} of 4`,
  );
  await client.close();
  for (const host of hosts) host.child.kill('SIGKILL');
  return ok;
}

// The paused cells first, in a fresh process: what they cost the client, not what the kill left.
const which = process.argv[2];
const results: boolean[] = [];
if (which === undefined || which === 'paused') results.push(await paused());
if (which === undefined || which === 'kill') results.push(await kill());
if (which === undefined || which === 'rolling') results.push(await rolling());
if (which === undefined || which === 'bomb') results.push(await bomb());
check(results.every(Boolean), 'a durable-cells promise was broken (see above)');
process.exit(0);
