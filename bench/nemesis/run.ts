// `npm run nemesis [-- --minutes 2 --seed 7]` (issue 68): a real PostgreSQL server, a tool service
// every call reaches (the ground truth: each call by its idempotency key, each time it took
// effect), three `codecell-host --listen` processes each in a network namespace of its own
// (hosts.ts; on loopback where namespaces cannot be made, partitions then left out), and two agent
// processes (agent.ts) sharing a postgresStore, finding the hosts through a re-resolved `dns`
// entry. Faults, chosen on a seed printed first, one or two at a time: kill -9 a host (it comes
// back); SIGSTOP a host, SIGCONT later; its link down, up later; a drain (SIGTERM) cut short by kill
// -9; kill -9 an agent (a new one comes up); SIGSTOP an agent past its lease, then SIGCONT (it must
// be fenced out); a crash and restart of PostgreSQL. Then a quiet phase in which everything heals,
// and the checker (check.ts). Exits 1 on any violation.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '../../test/postgres-server.js';
import { HOST_NODE_FLAGS } from '../../host/wire/host-process.js';
import { check, checkSessions, figures, readJournals } from './check.js';
import { postgresStore } from '../../src/index.js';
import { readLog } from '../../src/internal.js';
import { NEMESIS_LEASE_MS, type AgentConfig } from './agent.js';
import { NemesisHosts, type NemesisHost } from './hosts.js';
import { checkCursors, readCursors } from './cursors.js';
import { historyOf } from './history.js';

const AGENT = fileURLToPath(new URL('./agent.js', import.meta.url));
const argument = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
};
const minutes = argument('minutes', 2);
const seed = argument('seed', Math.floor(Math.random() * 1e9));
console.log(
  `nemesis: seed ${seed}, ${minutes} min of faults (reproduce: npm run nemesis -- --minutes ${minutes} --seed ${seed})`,
);

/** A small seeded generator (mulberry32): the same seed, the same faults in the same order. */
let state = seed >>> 0;
const random = (): number => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const started = await startPostgres();
if ('skip' in started) {
  console.log(`nemesis: ${started.skip}`);
  process.exit(1);
}
const server = started;
const dir = mkdtempSync(join(tmpdir(), 'codecell-nemesis-'));

// The tool service: each call's key, and how many times it took effect (the ground truth).
const effects = new Map<string, { tool: string; times: number }>();
const service = createServer((request, response) => {
  let body = '';
  request.on('data', (chunk: Buffer) => (body += chunk.toString()));
  request.on('end', () => {
    const { key, tool } = JSON.parse(body) as { key: string; tool: string };
    const effect = effects.get(key) ?? { tool, times: 0 };
    effect.times++;
    effects.set(key, effect);
    // Its delays are not the seed's: only the faults are reproducible.
    setTimeout(() => response.end(JSON.stringify({ took: effect.times })), Math.floor(Math.random() * 20));
  });
});
await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
const serviceUrl = `http://127.0.0.1:${(service.address() as { port: number }).port}/`;

const hosts = await NemesisHosts.make(dir, 3);
console.log(
  hosts.partitions
    ? `nemesis: 3 hosts in network namespaces (${hosts.hosts.map((host) => host.address).join(', ')})`
    : `nemesis: 3 hosts on loopback (${hosts.leftOut}): link down/up left out`,
);
const closeAll = async (): Promise<void> => {
  for (const { child } of agents) child.kill('SIGKILL');
  await hosts.close();
  service.close();
  server.stop();
};
process.once('SIGINT', () => void closeAll().then(() => process.exit(130)));
for (const host of hosts.hosts) await hosts.start(host);

const journals: string[] = [];
const agents: { id: string; child: ChildProcess; busy: boolean }[] = [];
function startAgent(id: string, fresh: number): void {
  const journal = join(dir, `${id}-${journals.length}.jsonl`);
  journals.push(journal);
  const config: AgentConfig = {
    id,
    postgres: server.connectionString,
    service: serviceUrl,
    journal,
    cursors: dir,
    fresh,
    hosts: hosts.address,
  };
  const child = spawn(process.execPath, [...HOST_NODE_FLAGS, AGENT, JSON.stringify(config)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  agents.push({ id, child, busy: false });
}
startAgent('a', 8);
startAgent('b', 8);

const faults = new Map<string, number>();
const between = (low: number, high: number): number => low + Math.floor(random() * (high - low));

/** A host no other nemesis is at work on, while at most one other is (so one stays whole), marked busy. */
function takeHost(): NemesisHost | undefined {
  const free = hosts.hosts.filter((host) => !host.busy);
  if (free.length < 2) return undefined;
  const host = pick(free);
  host.busy = true;
  return host;
}
function takeAgent(): (typeof agents)[number] | undefined {
  const free = agents.filter((agent) => !agent.busy);
  if (free.length === 0) return undefined;
  const agent = pick(free);
  agent.busy = true;
  return agent;
}

type Nemesis = () => Promise<boolean>;
/** Each nemesis: false when it found nothing to work on (its fault is then not counted). */
const nemeses: Record<string, Nemesis> = {
  'kill -9 a host (back after 1-3 s)': async () => {
    const host = takeHost();
    if (host === undefined) return false;
    const back = between(1_000, 3_000);
    await hosts.kill(host);
    await sleep(back);
    await hosts.start(host);
    host.busy = false;
    return true;
  },
  'SIGSTOP a host, SIGCONT after 1-5 s': async () => {
    const host = takeHost();
    if (host === undefined) return false;
    hosts.signal(host, 'SIGSTOP');
    await sleep(between(1_000, 5_000));
    hosts.signal(host, 'SIGCONT');
    host.busy = false;
    return true;
  },
  "a host's link down, up after 2-8 s": async () => {
    if (!hosts.partitions) return false;
    const host = takeHost();
    if (host === undefined) return false;
    hosts.link(host, false);
    await sleep(between(2_000, 8_000));
    hosts.link(host, true);
    host.busy = false;
    return true;
  },
  'a drain cut short by kill -9 after 0.3-2 s': async () => {
    const host = takeHost();
    if (host === undefined) return false;
    hosts.drain(host);
    await sleep(between(300, 2_000));
    await hosts.restart(host);
    host.busy = false;
    return true;
  },
  'kill -9 an agent': async () => {
    const agent = takeAgent();
    if (agent === undefined) return false;
    agents.splice(agents.indexOf(agent), 1);
    agent.child.kill('SIGKILL');
    await sleep(500);
    startAgent(agent.id, 0);
    return true;
  },
  'SIGSTOP an agent past its lease': async () => {
    const agent = takeAgent();
    if (agent === undefined) return false;
    agent.child.kill('SIGSTOP');
    await sleep(3 * NEMESIS_LEASE_MS);
    agent.child.kill('SIGCONT');
    agent.busy = false;
    return true;
  },
  'crash and restart PostgreSQL': async () => {
    server.restart();
    return true;
  },
};
const running = new Set<Promise<void>>();
function unleash(name: string): void {
  const done = (nemeses[name] as Nemesis)()
    .then((worked) => {
      if (worked) faults.set(name, (faults.get(name) ?? 0) + 1);
    })
    .catch((error: unknown) => console.log(`nemesis: ${name}: ${error}`))
    .finally(() => running.delete(done));
  running.add(done);
}
const until = Date.now() + minutes * 60_000;
while (Date.now() < until) {
  await sleep(between(1_000, 4_000));
  unleash(pick(Object.keys(nemeses)));
  // A third of the time a second one at once.
  if (random() < 1 / 3) unleash(pick(Object.keys(nemeses)));
  // At most two at work: the next waits for one to end.
  while (running.size >= 2) await Promise.race(running);
}
await Promise.all(running);
await hosts.heal();
// The quiet phase: everything heals; no new cells, and every open one reaches its end.
console.log('nemesis: quiet phase');
for (const { child } of agents) child.kill('SIGUSR2');
await sleep(20_000);
const store = postgresStore({ connectionString: server.connectionString });
const readAt = Date.now();
const sessions = await store.sessions();
// A session with a cell still open: its records are kept beside the journals, and the cells named.
const open = new Map<string, string[]>();
for (const { key, openCells } of sessions) {
  if (openCells === 0) continue;
  const records = (await store.records(key)) ?? [];
  writeFileSync(join(dir, `${key}.records.jsonl`), `${records.join('\n')}\n`);
  open.set(key, readLog(records).ledger.cellIds);
}
await store.close();
const entries = readJournals(journals);
await closeAll();
const cursors = readCursors(dir);
const violations = [
  ...check(entries, effects),
  ...checkSessions(sessions, 16, readAt, open),
  ...checkCursors(cursors, entries),
];
for (const [name, count] of faults) console.log(`nemesis: ${count} × ${name}`);
for (const [how, count] of figures(entries)) console.log(`nemesis: ${count} cell(s) ${how}`);
const twice = [...effects.values()].filter((effect) => effect.times > 1).length;
console.log(
  `nemesis: ${sessions.length} sessions, ${effects.size} calls took effect (${twice} made again, idempotent)`,
);
const told = [...cursors.values()].flat();
const followers = new Set(told.map((line) => line.run)).size;
const gaps = told.filter((line) => line.type === 'gap').length;
console.log(`nemesis: ${followers} cursor followers were told ${told.length} events (${gaps} gaps)`);
console.log(`nemesis: ${violations.length} violation(s)`);
// Each with its history: the agents' lines about its call, or its cell's end and what was told of it.
for (const violation of violations.slice(0, 50)) {
  console.log(`  ${violation}`);
  for (const line of historyOf(violation, entries, cursors)) console.log(`      ${line}`);
}
process.exit(violations.length === 0 ? 0 : 1);
