// One replica of an agent fleet whose sessions live in PostgreSQL (deploy/agents/): a replica that
// crashes or is redeployed loses no session — another adopts its sessions once their leases run
// out, and their running cells run on there. Each conversation is a session keyed by its id.
//   DATABASE_URL=postgres://… CODECELL_HOSTS=codecell-host.agents.svc.cluster.local:7077 \
//   CODECELL_TOKEN=… PORT=8080 node --no-node-snapshot examples/agent-replica.mjs
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

// Sessions of replicas that are gone are taken up here: now, and every few seconds.
async function adopt() {
  for (const session of await client.recover(() => delegate)) sessions.set(session.key, session);
}
await adopt();
const adopting = setInterval(() => adopt().catch((error) => console.error(`recover: ${error.message}`)), 5_000);

// POST /conversations/<id> with a cell's source: runs it in that conversation's session.
const server = createServer(async (request, response) => {
  const key = /^\/conversations\/([\w.:@-]{1,200})$/.exec(request.url ?? '')?.[1];
  if (request.method !== 'POST' || key === undefined) return response.writeHead(404).end();
  let source = '';
  for await (const chunk of request) source += chunk;
  try {
    let session = sessions.get(key);
    if (session === undefined || !session.isAlive) {
      session = await client.createSession(delegate, { key, tools, metadata: { conversation: key } });
      sessions.set(key, session);
    }
    const cell = await session.execute({ source });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ cellId: cell.cellId, event: await cell.initialEvent }));
  } catch (error) {
    // ERR_INVALID_REQUEST for a key another replica holds: the client's router retries elsewhere.
    response.writeHead(409, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ code: error.code, message: error.message }));
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
