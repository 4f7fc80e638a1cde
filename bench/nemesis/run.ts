// `npm run nemesis [-- --minutes 2 --seed 7]` (issues 68, 83): a real PostgreSQL server, a tool
// service every call reaches (the ground truth: each call by its idempotency key, each time it
// took effect, and whether its store held its `started` record when it came), three
// `codecell-host --listen` processes each in a network namespace of its own (hosts.ts; on loopback
// where namespaces cannot be made, partitions then left out), and agents of every configuration
// at once (agent.ts), two of each: remote (on the hosts, found through a re-resolved `dns` entry)
// with PostgreSQL, embedded with PostgreSQL, embedded with SQLite — their cells making calls that
// are idempotent and not, and deploys a person approves or declines. Faults, chosen on a seed
// printed first, one or two at a time: kill -9 a host (it comes back); SIGSTOP a host, SIGCONT
// later; its link down, up later; a drain (SIGTERM) cut short by kill -9; kill -9 an agent (a new
// one comes up); SIGSTOP an agent past its lease, then SIGCONT (it must be fenced out); a crash and
// restart of PostgreSQL; another process holding the SQLite file's lock. Then a quiet phase in
// which everything heals, and the checker (check.ts). Exits 1 on any violation.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '../../test/postgres-server.js';
import { HOST_NODE_FLAGS } from '../../host/wire/host-process.js';
import { check, checkSessions, figures, readJournals } from './check.js';
import { postgresStore, sqliteStore, type CodeCellStore } from '../../src/index.js';
import { readLog } from '../../src/internal.js';
import { NEMESIS_LEASE_MS, type AgentConfig, type AgentKind } from './agent.js';
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

/** Each configuration: its agents, the sessions each starts, and its store. */
const KINDS: { kind: AgentKind; ids: string[]; fresh: number; store: string }[] = [
  { kind: 'remote', ids: ['a', 'b'], fresh: 6, store: server.createDatabase('remote') },
  { kind: 'embedded-pg', ids: ['c', 'd'], fresh: 4, store: server.createDatabase('embedded') },
  { kind: 'embedded-sqlite', ids: ['e', 'f'], fresh: 4, store: join(dir, 'agents.db') },
];
const kindOf = (session: string): (typeof KINDS)[number] =>
  KINDS.find(({ ids }) => ids.includes(session.split('-')[0] as string)) as (typeof KINDS)[number];
// The SQLite file is made (and migrated) before its agents open it.
await sqliteStore({ path: join(dir, 'agents.db') }).close();

/**
 * Whether the store held the call's `started` record (codecell's write-ahead) when the call came:
 * read from the store itself, not from what codecell or an agent says. Undefined when the store
 * could not say (PostgreSQL restarting).
 */
const pools = new Map(
  KINDS.filter(({ kind }) => kind !== 'embedded-sqlite').map(({ store }) => [
    store,
    new pg.Pool({ connectionString: store, max: 2 }),
  ]),
);
for (const pool of pools.values()) pool.on('error', () => {});
const sqlite = new DatabaseSync(join(dir, 'agents.db'), { readOnly: true, timeout: 2_000 });
async function writtenAhead(key: string): Promise<boolean | undefined> {
  const session = key.slice(0, key.indexOf(':'));
  const { store } = kindOf(session);
  const marker = `"idempotencyKey":${JSON.stringify(key)}`;
  try {
    const pool = pools.get(store);
    if (pool === undefined) {
      const row = sqlite
        .prepare(
          `SELECT count(*) AS n FROM codecell_records WHERE key = ? AND record LIKE '{"t":"started"%' AND instr(record, ?) > 0`,
        )
        .get(session, marker) as { n: number };
      return row.n > 0;
    }
    const { rows } = await pool.query(
      `SELECT count(*) AS n FROM codecell_records WHERE key = $1 AND record LIKE '{"t":"started"%' AND strpos(record, $2) > 0`,
      [session, marker],
    );
    return Number(rows[0]?.n) > 0;
  } catch {
    return undefined;
  }
}

// The tool service: each call's key, and how many times it took effect (the ground truth).
const effects = new Map<string, { tool: string; times: number }>();
const unwritten: string[] = [];
let unchecked = 0;
const service = createServer((request, response) => {
  let body = '';
  request.on('data', (chunk: Buffer) => (body += chunk.toString()));
  request.on('end', () => {
    const { key, tool } = JSON.parse(body) as { key: string; tool: string };
    void writtenAhead(key).then((written) => {
      if (written === false) unwritten.push(key);
      if (written === undefined) unchecked++;
      const effect = effects.get(key) ?? { tool, times: 0 };
      effect.times++;
      effects.set(key, effect);
      // Its delays are not the seed's: only the faults are reproducible. A deploy takes longer (as
      // one does): an approved call is in flight long enough for a fault to find it there.
      const delay = tool === 'deploy' ? 100 + Math.random() * 300 : Math.random() * 20;
      setTimeout(() => response.end(JSON.stringify({ took: effect.times })), Math.floor(delay));
    });
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
  for (const { child } of agents.splice(0)) child.kill('SIGKILL');
  await hosts.close();
  service.close();
  sqlite.close();
  await Promise.all([...pools.values()].map((pool) => pool.end()));
  server.stop();
};
process.once('SIGINT', () => void closeAll().then(() => process.exit(130)));
for (const host of hosts.hosts) await hosts.start(host);

const journals: string[] = [];
const agents: { id: string; child: ChildProcess; busy: boolean }[] = [];
function startAgent(id: string, fresh: number): void {
  const journal = join(dir, `${id}-${journals.length}.jsonl`);
  journals.push(journal);
  const { kind, store } = kindOf(id);
  const config: AgentConfig = {
    id,
    kind,
    store,
    service: serviceUrl,
    journal,
    cursors: dir,
    fresh,
    hosts: hosts.address,
  };
  const child = spawn(process.execPath, [...HOST_NODE_FLAGS, AGENT, JSON.stringify(config)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const agent = { id, child, busy: false };
  agents.push(agent);
  // Only the nemesis ends an agent (by a signal): one that exits by itself crashed — codecell let an
  // error through (its stderr above says which). It is a violation, and a new one takes its place.
  child.once('exit', (code, signal) => {
    if (signal !== null || !agents.includes(agent)) return;
    crashed.push(`agent ${id} (pid ${child.pid}) exited by itself, code ${code}`);
    agents.splice(agents.indexOf(agent), 1);
    startAgent(id, 0);
  });
}
const crashed: string[] = [];
for (const { ids, fresh } of KINDS) for (const id of ids) startAgent(id, fresh);
console.log(`nemesis: agents ${KINDS.map(({ kind, ids }) => `${ids.join(', ')} ${kind}`).join('; ')}`);

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
  "another process holds the SQLite file's lock for 1-3 s": async () => {
    const other = new DatabaseSync(join(dir, 'agents.db'), { timeout: 15_000 });
    try {
      other.exec('BEGIN IMMEDIATE');
      await sleep(between(1_000, 3_000));
      other.exec('COMMIT');
    } finally {
      other.close();
    }
    return true;
  },
};
const running = new Set<Promise<void>>();
/** When each fault began and ended, beside the agents' logs (for a violation's history). */
const timeline = (what: string): void =>
  appendFileSync(join(dir, 'faults.log'), `${new Date().toISOString()} ${what}\n`);
function unleash(name: string): void {
  timeline(`begins: ${name}`);
  const done = (nemeses[name] as Nemesis)()
    .then((worked) => {
      timeline(`ends: ${name}${worked ? '' : ' (found nothing to work on)'}`);
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
const sessionViolations: string[] = [];
const sessions = [];
for (const { kind, ids, store: where } of KINDS) {
  const store: CodeCellStore =
    kind === 'embedded-sqlite' ? sqliteStore({ path: where }) : postgresStore({ connectionString: where });
  const readAt = (await store.now?.()) ?? Date.now();
  const listed = await store.sessions();
  sessions.push(...listed);
  // A session with a cell still open: its records are kept beside the journals, and the cells named.
  const open = new Map<string, string[]>();
  for (const { key, openCells } of listed) {
    if (openCells === 0) continue;
    const records = (await store.records(key)) ?? [];
    writeFileSync(join(dir, `${key}.records.jsonl`), `${records.join('\n')}\n`);
    try {
      open.set(key, readLog(records).ledger.cellIds);
    } catch (error) {
      sessionViolations.push(`${kind}: session ${key}: its log does not read: ${String(error)}`);
    }
  }
  await store.close();
  const made = new Set(
    readJournals(journals).flatMap((entry) =>
      entry.t === 'created' && ids.some((id) => entry.session.startsWith(`${id}-`)) ? [entry.session] : [],
    ),
  );
  if (made.size === 0) sessionViolations.push(`${kind}: no session's creation was answered`);
  sessionViolations.push(...checkSessions(listed, made, readAt, open).map((line) => `${kind}: ${line}`));
}
const entries = readJournals(journals);
await closeAll();
const cursors = readCursors(dir);
const violations = [
  ...crashed,
  ...check(entries, effects, unwritten),
  ...sessionViolations,
  ...checkCursors(cursors, entries),
];
for (const [name, count] of faults) console.log(`nemesis: ${count} × ${name}`);
for (const [how, count] of figures(entries)) console.log(`nemesis: ${count} cell(s) ${how}`);
const twice = [...effects.values()].filter((effect) => effect.times > 1).length;
console.log(
  `nemesis: ${sessions.length} sessions, ${effects.size} calls took effect (${twice} made again, idempotent; ` +
    `${unchecked} not checked against their store, which could not be read then)`,
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
if (violations.length > 0) console.log(`nemesis: the agents' journals and logs, and faults.log, are in ${dir}`);
process.exit(violations.length === 0 ? 0 : 1);
