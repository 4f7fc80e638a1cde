// `npm run soak:replay`: the measurements of issue 53 (durable cells), on loopback with four
// `codecell-host --listen` processes at 127.0.0.2–5 on one port. Not a timed test: it prints what
// it saw and exits 1 if a promise was broken.
//   kill:    200 sessions each run a cell of 10–50 sequential and parallel tool calls whose logic
//            reads Math.random(), Date.now() and timers; kill -9 one host. Every cell completes
//            (those of the dead host on another, from their journals); each delegate saw each call
//            once; each cell's output agrees with the inputs its delegate saw.
//   paused:  1 000 cells paused by a CellInterrupt (waiting for approval) in one host process: the
//            client's RSS, and none holds a running-cell slot (a new cell runs at once).
import { CellInterrupt, type JsonValue, type NestedToolCall, type SessionRuntimeDelegate } from '../src/index.js';
import { HostClient, type RemoteSession } from '../host/index.js';
import { check, quietLogger } from './common.js';
import { ADDRESSES, freePort, startHost, type Host } from './soak-hosts.js';

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
  // None holds a running slot (maxRunningCells 2 per session): a new cell runs at once.
  const free = await (await (sessions[0] as RemoteSession).execute({ source: 'text("free")' })).initialEvent;
  const resumed = await (sessions[0] as RemoteSession).resumeCell('1', { result: { approved: true } });
  console.log(
    `1 000 cells paused for approval on one host: ${interrupted} interrupted; client RSS ` +
      `${(rss / 2 ** 20).toFixed(1)} MiB (${((rss - rssBefore) / 2 ** 20).toFixed(1)} MiB more than before); ` +
      `a new cell beside them ${free.kind}; one resumed ${resumed.kind} ${JSON.stringify(resumed.items)}`,
  );
  await client.close();
  return interrupted === 1_000 && rss < 100 * 2 ** 20 && free.kind === 'completed' && resumed.kind === 'completed';
}

// The paused cells first, in a fresh process: what they cost the client, not what the kill left.
const results = [await paused(), await kill()];
check(results.every(Boolean), 'a durable-cells promise was broken (see above)');
