// The agent-fleet example (examples/agent-replica.mjs, issue 83), run as its Deployment runs it:
// replicas sharing one real PostgreSQL store and one real codecell-host. A request for a
// conversation may reach any replica: the one that holds it serves it, a replica whose holder is
// gone adopts it, and a replica that cannot reach the live holder says so (503), not 4xx.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, startPostgres } from '../postgres-server.js';
import { startListening, tokenFile } from '../network-helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/agent-replica.mjs', import.meta.url));
const server = await startPostgres();
const skip = 'skip' in server ? server.skip : false;
if ('stop' in server) after(() => server.stop());

interface Replica {
  url: string;
  kill(): void;
}

/** One replica of the example on a loopback port, once it answers. */
async function replica(t: TestContext, port: number, env: Record<string, string>): Promise<Replica> {
  const child = spawn(process.execPath, ['--no-node-snapshot', EXAMPLE], {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  t.after(() => void child.kill('SIGKILL'));
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the replica exited (${child.exitCode})`);
    const answered = await fetch(`${url}/conversations/none`, { method: 'HEAD' }).catch(() => undefined);
    if (answered !== undefined) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, kill: () => child.kill('SIGKILL') };
}

/** POST a cell to a conversation through a replica: the status, and the cell's texts or the error. */
async function post(replica: Replica, key: string, source: string): Promise<{ status: number; body: any }> {
  const answer = await fetch(`${replica.url}/conversations/${key}`, { method: 'POST', body: source });
  return { status: answer.status, body: await answer.json() };
}
const textsOf = (body: { event: { kind: string; items: { text?: string }[] } }): string[] =>
  body.event.items.map((item) => item.text ?? '');
const holds = async (replica: Replica, key: string): Promise<boolean> =>
  (await fetch(`${replica.url}/conversations/${key}`, { method: 'HEAD' })).status === 200;

test(
  'a conversation is served by the replica that holds it, wherever the request lands, and adopted when it dies',
  { skip },
  async (t) => {
    if ('skip' in server) return;
    const token = 'replica-test-token';
    const host = await startListening(t, '127.0.0.1:0', ['--token-file', tokenFile(t, token)]);
    const [portA, portB, portC] = [await freePort(), await freePort(), await freePort()];
    const env = {
      DATABASE_URL: server.createDatabase('replicas'),
      CODECELL_HOSTS: new URL(host.url).host,
      CODECELL_TOKEN: token,
      AGENT_REPLICAS: `127.0.0.1:${portA},127.0.0.1:${portB}`,
    };
    const a = await replica(t, portA, env);
    const b = await replica(t, portB, env);

    const first = await post(a, 'c1', "store('n', 41); text('on a')");
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(textsOf(first.body), ['on a']);
    assert.equal(await holds(a, 'c1'), true);

    // The same conversation through b: passed to a, which holds it (b opens nothing of its own).
    const through = await post(b, 'c1', "text(String(load('n') + 1))");
    assert.equal(through.status, 200, JSON.stringify(through.body));
    assert.deepEqual(textsOf(through.body), ['42']);
    assert.equal(through.body.cellId, '2', 'the next cell of the same session');
    assert.equal(await holds(b, 'c1'), false);

    // A replica that knows no other (so cannot reach a) is told to try elsewhere, not that the request was bad.
    const c = await replica(t, portC, { ...env, AGENT_REPLICAS: '' });
    const elsewhere = await post(c, 'c1', 'text(1)');
    assert.equal(elsewhere.status, 503, JSON.stringify(elsewhere.body));
    assert.equal(elsewhere.body.code, 'ERR_SESSION_ELSEWHERE');

    // a dies (and c, which would adopt it too): the next request through b adopts the conversation
    // there, once a's lease ended.
    c.kill();
    a.kill();
    const adopted = await post(b, 'c1', "text(String(load('n') + 2))");
    assert.equal(adopted.status, 200, JSON.stringify(adopted.body));
    assert.deepEqual(textsOf(adopted.body), ['43'], 'the stored value came along');
    assert.equal(adopted.body.cellId, '3');
    assert.equal(await holds(b, 'c1'), true);

    // What is not a conversation request says so.
    const wrong = await fetch(`${b.url}/conversations/a%20b`, { method: 'POST', body: 'text(1)' });
    assert.equal(wrong.status, 404);
    assert.equal(((await wrong.json()) as { code: string }).code, 'NOT_FOUND');
  },
);
