// Issue 52, item 1: placement a platform can trust, on loopback with in-process listening hosts.
// A session goes elsewhere only when its host refused it before anything ran; a host back in the
// DNS answer is placed on again; a tool result too large for the wire fails its own call only;
// connectTimeoutMs bounds the whole handshake.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { HostClient } from '../host/index.js';
import { listen } from '../host/server/listen.js';
import type { CodeCellError } from '../src/index.js';
import { capturingLogger, RecordingDelegate, texts, waitFor } from './helpers.js';

type Service = Awaited<ReturnType<typeof listen>>;

async function serve(t: { after(fn: () => unknown): void }, host: string, port = 0, maxMessageBytes?: number) {
  const service: Service = await listen({
    host,
    port,
    logger: capturingLogger(),
    ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }),
  });
  t.after(() => service.close());
  return service;
}

const portOf = (url: string): number => Number(new URL(url).port);

describe('placement', { timeout: 60_000 }, () => {
  test('a setup cell that times out runs once, is ERR_SETUP_TIMEOUT, and is not tried on another host', async (t) => {
    const [a, b] = [await serve(t, '127.0.0.1'), await serve(t, '127.0.0.1')];
    const client = await HostClient.connect({ hosts: [a.url, b.url], logger: capturingLogger() });
    t.after(() => client.close());
    const delegate = new RecordingDelegate({ hit: () => 'ok' });
    await assert.rejects(
      client.createSession(delegate, {
        tools: [{ name: 'hit' }],
        setupSource: 'tools.hit(); while (true) {}',
        setupTimeoutMs: 300,
      }),
      (error: CodeCellError) => {
        assert.equal(error.code, 'ERR_SETUP_TIMEOUT');
        assert.equal(error.message, 'the setup cell did not reach a frontier within 300 ms');
        return true;
      },
    );
    assert.equal(delegate.calls.length, 1, "the setup's tool call ran once");
    // The session was shut down on the host it ran on; nothing was created on the other.
    await waitFor(() => a.stats.sessions + b.stats.sessions === 0);
  });

  test('a host that left the DNS answer and came back takes new sessions again', async (t) => {
    const first = await serve(t, '127.0.0.1');
    const port = portOf(first.url);
    await serve(t, '127.0.0.2', port);
    let answer = ['127.0.0.1', '127.0.0.2'];
    const client = await HostClient.connect({
      hosts: [{ dns: `codecell.test:${port}` }],
      resolve: async () => answer,
      resolveIntervalMs: 20,
      statusIntervalMs: 20,
      logger: capturingLogger(),
    });
    t.after(() => client.close());
    const second = `ws://127.0.0.2:${port}`;
    const accepting = (url: string): boolean | undefined => client.hosts.find((host) => host.host === url)?.accepting;
    const delegate = new RecordingDelegate();
    const before = await Promise.all([1, 2].map(() => client.createSession(delegate)));
    assert.deepEqual(before.map((session) => session.host).sort(), [`ws://127.0.0.1:${port}`, second]);

    answer = ['127.0.0.1']; // a readiness flap: the second host leaves the answer
    await waitFor(() => accepting(second) === false);
    const during = await Promise.all([1, 2].map(() => client.createSession(delegate)));
    assert.ok(
      during.every((session) => session.host !== second),
      'no session goes to a host out of the answer',
    );

    answer = ['127.0.0.1', '127.0.0.2']; // back
    await waitFor(() => accepting(second) === true);
    const after = await Promise.all([1, 2].map(() => client.createSession(delegate)));
    assert.deepEqual(
      after.map((session) => session.host),
      [second, second],
      'the host that came back (one session against three) takes the new ones',
    );
    assert.deepEqual(texts(await (await before[1]!.execute({ source: 'text("kept")' })).initialEvent), ['kept']);
  });

  test("a tool result over the host's message bound fails that call only; the connection and its sessions go on", async (t) => {
    const service = await serve(t, '127.0.0.1', 0, 1024 * 1024);
    const client = await HostClient.connect({ hosts: [service.url], logger: capturingLogger() });
    t.after(() => client.close());
    const delegate = new RecordingDelegate({ big: () => 'x'.repeat(2_000_000), small: () => 'y'.repeat(3_000) });
    const tools = [{ name: 'big' }, { name: 'small' }];
    const session = await client.createSession(delegate, { tools, limits: { maxToolResultBytes: 8_000_000 } });
    const other = await client.createSession(delegate, { tools, limits: { maxToolResultBytes: 1_000 } });
    const source = 'try { await tools.big() } catch (e) { text(e.message) }';
    assert.deepEqual(texts(await (await session.execute({ source })).initialEvent), [
      `tools.big result is 2000002 bytes, over the largest message ${service.url} reads (1047552 bytes)`,
    ]);
    assert.ok(session.isAlive && other.isAlive);
    // The session's own bound, and a cell's own bound above it, are kept on the client too.
    const small = 'try { text((await tools.small()).length) } catch (e) { text(e.message) }';
    assert.deepEqual(texts(await (await other.execute({ source: small })).initialEvent), [
      'tools.small result is 3002 bytes, over the maxToolResultBytes limit of 1000',
    ]);
    const allowed = await other.execute({ source: small, limits: { maxToolResultBytes: 5_000 } });
    assert.deepEqual(texts(await allowed.initialEvent), ['3000']);
    assert.equal(service.stats.sessions, 2);
  });

  test('connectTimeoutMs bounds the whole handshake: a host that never answers initialize is ERR_HOST_UNREACHABLE', async (t) => {
    const silent = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    t.after(() => {
      for (const socket of silent.clients) socket.terminate();
      silent.close();
    });
    await new Promise((resolve) => silent.once('listening', resolve));
    const url = `ws://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const start = performance.now();
    await assert.rejects(
      HostClient.connect({ hosts: [url], connectTimeoutMs: 500, logger: capturingLogger() }),
      (error: CodeCellError) => {
        assert.equal(error.code, 'ERR_HOST_UNREACHABLE');
        assert.equal(
          error.message,
          `codecell-host at ${url} accepted the connection but did not answer initialize within connectTimeoutMs (500 ms)`,
        );
        return true;
      },
    );
    // The liveness check (5 s, then a ping as long again) would have taken ~10 s.
    assert.ok(performance.now() - start < 8_000, 'bounded by connectTimeoutMs, not by the liveness check');
    await assert.rejects(HostClient.connect({ hosts: ['ws://127.0.0.1:1'], logger: capturingLogger() }), {
      code: 'ERR_HOST_UNREACHABLE',
    });
  });
});
