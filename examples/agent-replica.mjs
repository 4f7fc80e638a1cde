// One replica of an agent fleet whose sessions live in PostgreSQL (deploy/agents/): a replica that
// crashes or is redeployed loses no session — another adopts its sessions once their leases run
// out, and their running cells run on there. Each conversation is a session keyed by its id; a
// request may reach any replica: the one that holds the conversation serves it (the others pass
// the request on), and when its holder is gone the replica the request reached adopts it.
//   DATABASE_URL=postgres://… CODECELL_HOSTS=codecell-host.agents.svc.cluster.local:7077 \
//   CODECELL_TOKEN=… AGENT_REPLICAS=codecell-agent-peers.agents.svc.cluster.local:8080 \
//   PORT=8080 node --no-node-snapshot examples/agent-replica.mjs
import { lookup } from 'node:dns/promises';
import { createServer } from 'node:http';
import { postgresStore } from 'codecell';
import { HostClient } from 'codecell/host';

const store = postgresStore({ connectionString: process.env.DATABASE_URL });
const client = await HostClient.connect({
  hosts: [{ dns: process.env.CODECELL_HOSTS ?? 'codecell-host:7077' }],
  token: process.env.CODECELL_TOKEN,
  store,
});
// Your agent's tools; `call.idempotencyKey` is the same wherever the call is made again.
const delegate = {
  invokeTool: async (call) => ({ tool: call.tool.name, key: call.idempotencyKey }),
  notify: async () => {},
};
const tools = [{ name: 'lookup', idempotent: true }];
const sessions = new Map(); // key → this replica's live session
const LEASE_MS = 10_000; // the store's lease (HostClient's default leaseMs)

// Sessions of replicas that are gone are taken up here: now, and every few seconds.
async function adopt() {
  for (const session of await client.recover(() => delegate)) sessions.set(session.key, session);
}
await adopt();
const adopting = setInterval(() => adopt().catch((error) => console.error(`recover: ${error.message}`)), 5_000);

/** The replicas' base URLs: AGENT_REPLICAS is host:port (a headless Service: every pod) or a list of them. */
async function replicas() {
  const entries = (process.env.AGENT_REPLICAS ?? '').split(',').filter((entry) => entry !== '');
  const found = await Promise.all(
    entries.map(async (entry) => {
      const { hostname, port } = new URL(`http://${entry}`);
      const addresses = await lookup(hostname, { all: true }).catch(() => []);
      return addresses.map(({ address, family }) => `http://${family === 6 ? `[${address}]` : address}:${port}`);
    }),
  );
  return found.flat();
}

/** The replica that holds `key` live now (it answers HEAD with 200), if another does. */
async function holderOf(key) {
  const asked = (await replicas()).map(async (base) => {
    const answer = await fetch(`${base}/conversations/${key}`, { method: 'HEAD', signal: AbortSignal.timeout(1_000) });
    if (answer.status !== 200) throw new Error('not here');
    return base;
  });
  return asked.length === 0 ? undefined : Promise.any(asked).catch(() => undefined);
}

const opening = new Map(); // key → the session being opened here
/**
 * This replica's session for `key`: its own, one adopted from a replica that is gone (at once, or
 * once the lease ends), or a new one. Undefined: another replica holds it live.
 */
function sessionFor(key) {
  const live = sessions.get(key);
  if (live?.isAlive) return live;
  if (!opening.has(key)) {
    const open = (async () => {
      const [adopted] = await client.recover(() => delegate, { keys: [key] });
      if (adopted !== undefined) return adopted;
      try {
        return await client.createSession(delegate, { key, tools, metadata: { conversation: key } });
      } catch (error) {
        if (error.code !== 'ERR_INVALID_REQUEST') throw error; // in the store already: held elsewhere
      }
      // Its holder may be gone with its lease not yet ended: adopted as it ends (renewed: it lives).
      const [waited] = await client.recover(() => delegate, { keys: [key], waitMs: LEASE_MS + 2_000 });
      return waited;
    })().then((session) => {
      if (session !== undefined) sessions.set(key, session);
      return session;
    });
    opening.set(key, open);
    void open.finally(() => opening.delete(key)).catch(() => {});
  }
  return opening.get(key);
}

const json = (response, status, body, headers = {}) =>
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

// POST /conversations/<id> with a cell's source: runs it in that conversation's session, wherever it lives.
// HEAD /conversations/<id>: 200 when this replica holds the conversation live (what the others ask).
const server = createServer(async (request, response) => {
  const key = /^\/conversations\/([\w.:@-]{1,200})$/.exec(request.url ?? '')?.[1];
  if (key === undefined) return json(response, 404, { code: 'NOT_FOUND', message: 'POST /conversations/<id>' });
  if (request.method === 'HEAD') return response.writeHead(sessions.get(key)?.isAlive ? 200 : 404).end();
  if (request.method !== 'POST') return json(response, 405, { code: 'METHOD', message: 'POST a cell source' });
  let source = '';
  for await (const chunk of request) source += chunk;
  try {
    // Passed on once at most: a replica handed a request serves it or says why, never passes it on.
    const holder = sessions.get(key)?.isAlive || request.headers['x-forwarded-by'] ? undefined : await holderOf(key);
    if (holder !== undefined) {
      const answer = await fetch(`${holder}/conversations/${key}`, {
        method: 'POST',
        body: source,
        headers: { 'x-forwarded-by': String(server.address().port) },
      });
      return response.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text());
    }
    const session = await sessionFor(key);
    if (session === undefined)
      // Held live by a replica no request reaches from here: the router tries again (not a client error).
      return json(response, 503, { code: 'ERR_SESSION_ELSEWHERE', message: `${key} is held elsewhere` }, { 'retry-after': '1' });
    const cell = await session.execute({ source });
    json(response, 200, { cellId: cell.cellId, event: await cell.initialEvent });
  } catch (error) {
    json(response, error.code === 'ERR_INVALID_REQUEST' ? 400 : 500, { code: error.code, message: error.message });
  }
});
server.listen(Number(process.env.PORT ?? 8080));

// A rolling update: stop taking work, let the leases go (nothing more is written), exit. Running
// cells are not ended: another replica adopts their sessions and runs them on.
process.once('SIGTERM', async () => {
  clearInterval(adopting);
  server.close();
  await client.close();
  await store.close();
});
