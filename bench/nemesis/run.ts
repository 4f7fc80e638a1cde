// `npm run nemesis [-- --minutes 2 --seed 7]` (issue 68, first step: loopback nemeses): a real
// PostgreSQL server, a tool service every call reaches (the ground truth: each call by its
// idempotency key, each time it took effect), and two agent processes (agent.ts) sharing a
// postgresStore, each with two codecell-host children. Faults, chosen on a seed printed first: kill
// -9 a host; kill -9 an agent (a new one comes up); SIGSTOP an agent past its lease, then SIGCONT
// (it must be fenced out); a crash and restart of PostgreSQL. Then a quiet phase, and the checker
// (check.ts). Exits 1 on any violation. Not yet: network namespaces and partitions, drains.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '../../test/postgres-server.js';
import { HOST_NODE_FLAGS } from '../../host/wire/host-process.js';
import { check, checkSessions, figures, readJournals } from './check.js';
import { postgresStore } from '../../src/index.js';
import { NEMESIS_LEASE_MS } from './agent.js';

const AGENT = fileURLToPath(new URL('./agent.js', import.meta.url));
const argument = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
};
const minutes = argument('minutes', 2);
const seed = argument('seed', Math.floor(Math.random() * 1e9));
console.log(`nemesis: seed ${seed}, ${minutes} min of faults (reproduce: npm run nemesis -- --seed ${seed})`);

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

const journals: string[] = [];
const agents: { id: string; child: ChildProcess }[] = [];
function startAgent(id: string, fresh: number): void {
  const journal = join(dir, `${id}-${journals.length}.jsonl`);
  journals.push(journal);
  const child = spawn(
    process.execPath,
    [...HOST_NODE_FLAGS, AGENT, id, server.connectionString, serviceUrl, journal, String(fresh)],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  agents.push({ id, child });
}
startAgent('a', 8);
startAgent('b', 8);

const faults = new Map<string, number>();
const nemeses: Record<string, () => Promise<void>> = {
  'kill -9 a host': async () => {
    const agent = pick(agents);
    const hosts = execFileSync('pgrep', ['-P', String(agent.child.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n');
    const host = Number(pick(hosts.filter((pid) => pid !== '')));
    if (host > 0) process.kill(host, 'SIGKILL');
  },
  'kill -9 an agent': async () => {
    const agent = pick(agents);
    agents.splice(agents.indexOf(agent), 1);
    agent.child.kill('SIGKILL');
    await sleep(500);
    startAgent(agent.id, 0);
  },
  'SIGSTOP an agent past its lease': async () => {
    const { child } = pick(agents);
    child.kill('SIGSTOP');
    await sleep(3 * NEMESIS_LEASE_MS);
    child.kill('SIGCONT');
  },
  'crash and restart PostgreSQL': async () => server.restart(),
};
const until = Date.now() + minutes * 60_000;
while (Date.now() < until) {
  await sleep(1_000 + Math.floor(random() * 3_000));
  const name = pick(Object.keys(nemeses));
  faults.set(name, (faults.get(name) ?? 0) + 1);
  await (nemeses[name] as () => Promise<void>)().catch((error: unknown) => console.log(`nemesis: ${name}: ${error}`));
}
// The quiet phase: everything heals; no new cells, and every open one reaches its end.
console.log('nemesis: quiet phase');
for (const { child } of agents) child.kill('SIGUSR2');
await sleep(20_000);
const store = postgresStore({ connectionString: server.connectionString });
const sessions = await store.sessions();
await store.close();
for (const { child } of agents) child.kill('SIGKILL');
const entries = readJournals(journals);
const violations = [...check(entries, effects), ...checkSessions(sessions, 16, Date.now())];
for (const [name, count] of faults) console.log(`nemesis: ${count} × ${name}`);
for (const [how, count] of figures(entries)) console.log(`nemesis: ${count} cell(s) ${how}`);
const twice = [...effects.values()].filter((effect) => effect.times > 1).length;
console.log(
  `nemesis: ${sessions.length} sessions, ${effects.size} calls took effect (${twice} made again, idempotent)`,
);
console.log(`nemesis: ${violations.length} violation(s)`);
for (const violation of violations.slice(0, 50)) console.log(`  ${violation}`);
service.close();
server.stop();
process.exit(violations.length === 0 ? 0 : 1);
