// codecell-host as a network service (issue 28), on loopback: the token refused before the
// upgrade, health/readiness/metrics, bounds, TLS, many hosts behind one HostClient (spread,
// kill -9, drain on SIGTERM, hosts that appear in a DNS answer), and events neither lost,
// duplicated nor reordered at 1 000 sessions.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test, type TestContext } from 'node:test';
import { generate } from 'selfsigned';
import WebSocket from 'ws';
import { HostClient } from '../host/index.js';
import { hostCommand } from '../host/cli/host-args.js';
import { listen } from '../host/server/listen.js';
import { CellInterrupt, type CodeCellError } from '../src/index.js';
import { capturingLogger, RecordingDelegate, texts, waitFor } from './helpers.js';
import { echo, metric, probe, startListening, tokenFile, TOOLS } from './network-helpers.js';

/**
 * Metric names as `promtool check metrics` wants them: a counter ends in _total, nothing else
 * does. Where promtool is installed (apt-get install prometheus), it checks the text too.
 */
function assertPrometheusNames(text: string): void {
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => ({ name, type }));
  assert.ok(types.length > 10, `${types.length} metrics`);
  for (const { name, type } of types)
    assert.equal(name?.endsWith('_total'), type === 'counter', `${name} is a ${type}`);
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error === undefined) assert.equal(promtool.status, 0, promtool.stdout + promtool.stderr);
}

describe('codecell-host --listen', { timeout: 60_000 }, () => {
  test('a wrong or missing token is refused before the upgrade; probes and metrics answer on the same port', async (t) => {
    const host = await startListening(t, '127.0.0.1:0', ['--token-file', tokenFile(t, 's3cret')]);
    assert.match(host.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
    for (const token of [undefined, 'wrong', 's3cre', 's3cret-and-more']) {
      await assert.rejects(
        HostClient.connect({ hosts: [host.url], ...(token === undefined ? {} : { token }) }),
        (error: CodeCellError) => {
          assert.equal(error.code, 'ERR_UNAUTHORIZED');
          assert.match(error.message, /refused the connection: 401 a valid bearer token is required/);
          return true;
        },
      );
    }
    // A raw client sees the refusal as the HTTP answer to its upgrade: no WebSocket was opened.
    const status = await new Promise<number>((resolve) => {
      const socket = new WebSocket(host.url, { headers: { Authorization: 'Basic czNjcmV0' } });
      socket.on('error', () => {});
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      socket.on('open', () => resolve(101));
    });
    assert.equal(status, 401);
    let metrics = await probe(host.url, '/metrics');
    assert.equal(metric(metrics.text, 'codecell_connections'), 0, 'no refused client ever got a connection');
    assert.equal(metric(metrics.text, 'codecell_sessions'), 0);
    assertPrometheusNames(metrics.text);

    assert.deepEqual(await probe(host.url, '/healthz'), { status: 200, text: 'ok\n' });
    assert.deepEqual(await probe(host.url, '/readyz'), { status: 200, text: 'ready\n' });
    assert.equal((await probe(host.url, '/nowhere')).status, 404);

    const client = await HostClient.connect({ hosts: [host.url], token: 's3cret' });
    t.after(() => client.close());
    const session = await client.createSession(echo(), { tools: TOOLS });
    assert.equal(session.host, host.url);
    const started = await session.execute({ source: 'text(JSON.stringify(await tools.echo({ n: 1 })))' });
    assert.deepEqual(texts(await started.initialEvent), ['{"echoed":{"n":1}}']);
    const spinning = await session.execute({ source: 'while (true) {}' }, { kind: 'yieldAfter', ms: 10 });
    await spinning.initialEvent;
    await session.terminate(spinning.cellId);
    await waitFor(() => session.isAlive);
    metrics = await probe(host.url, '/metrics');
    assert.equal(metric(metrics.text, 'codecell_sessions'), 1);
    assert.equal(metric(metrics.text, 'codecell_connections'), 1);
    assert.equal(metric(metrics.text, 'codecell_accepting_sessions'), 1);
    assert.equal(metric(metrics.text, 'codecell_cells_total{outcome="completed",reason=""}'), 1);
    assert.equal(metric(metrics.text, 'codecell_cells_total{outcome="terminated",reason="requested"}'), 1);
    assert.equal(metric(metrics.text, 'codecell_tool_call_seconds_count{ok="true"}'), 1);
    assert.equal(metric(metrics.text, 'codecell_terminate_seconds_count'), 1);
    assert.equal(metric(metrics.text, 'codecell_cells_running'), 0);
    assert.equal(metric(metrics.text, 'codecell_cells_paused'), 0);
    // A cell a tool paused counts as paused; a session resumed from its snapshot, as restored.
    const asking = new RecordingDelegate({
      ask: () => {
        throw new CellInterrupt({ approve: 'ask' });
      },
    });
    const pausing = await client.createSession(asking, { tools: [{ name: 'ask' }] });
    assert.equal((await (await pausing.execute({ source: 'await tools.ask({})' })).initialEvent).kind, 'interrupted');
    assert.equal(metric((await probe(host.url, '/metrics')).text, 'codecell_cells_paused'), 1);
    const resumed = await client.resumeSession(await pausing.suspend(), asking);
    t.after(() => resumed.shutdown());
    metrics = await probe(host.url, '/metrics');
    assert.equal(metric(metrics.text, 'codecell_cells_paused'), 1, 'the paused cell, restored');
    assert.equal(metric(metrics.text, 'codecell_sessions_restored_total{from="snapshot"}'), 1);
    for (const name of [
      'codecell_shutdown_seconds_count',
      'codecell_cells_executing',
      'codecell_cells_waiting',
      'nodejs_eventloop_lag_seconds',
      'process_resident_memory_bytes',
    ]) {
      assert.ok(metrics.text.includes(`\n${name} `), `${name} is exported`);
    }
  });

  test('bounds: connections, sessions per connection and message size each fail clearly; connections do not see each other', async (t) => {
    const service = await listen({
      host: '127.0.0.1',
      port: 0,
      maxConnections: 2,
      maxSessionsPerConnection: 2,
      maxMessageBytes: 4096,
      logger: capturingLogger(),
    });
    t.after(() => service.close());
    const first = await HostClient.connect({ hosts: [service.url], rehome: false });
    t.after(() => first.close());
    const a = await first.createSession(echo(), { tools: TOOLS });
    await first.createSession(echo());
    await assert.rejects(
      first.createSession(echo()),
      (error: CodeCellError) => error.code === 'ERR_LIMIT_EXCEEDED' && /already has 2 sessions/.test(error.message),
    );

    // Another connection cannot reach the first one's sessions: ids are per connection.
    const raw = new WebSocket(service.url);
    t.after(() => raw.terminate());
    await new Promise((resolve) => raw.once('open', resolve));
    const answer = new Promise<{ error?: { message: string } }>((resolve) =>
      raw.once('message', (data) => resolve(JSON.parse(String(data)))),
    );
    raw.send(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'cell/execute',
        params: { sessionId: a.sessionId, request: { source: 'text(1)' } },
      }),
    );
    assert.match((await answer).error?.message ?? '', new RegExp(`unknown session ${a.sessionId}`));

    await assert.rejects(
      HostClient.connect({ hosts: [service.url] }),
      (error: CodeCellError) =>
        error.code === 'ERR_HOST_UNREACHABLE' && /503 codecell-host has 2 connections open/.test(error.message),
    );

    // A message over the bound closes that connection (1009): its calls fail ERR_HOST_EXITED.
    await assert.rejects(
      a.execute({ source: `text(${JSON.stringify('x'.repeat(8192))})` }),
      (error: CodeCellError) => error.code === 'ERR_HOST_EXITED',
    );
    assert.equal(a.isAlive, false);
  });

  test('served defaults: cells get finite time unless their session asks for none; live cells per connection are bounded', async (t) => {
    const service = await listen({
      host: '127.0.0.1',
      port: 0,
      defaultLimits: { cpuTimeMs: 200, wallTimeMs: 60_000 },
      maxLiveCellsPerConnection: 3,
      logger: capturingLogger(),
    });
    t.after(() => service.close());
    const client = await HostClient.connect({ hosts: [service.url] });
    t.after(() => client.close());
    const served = await client.createSession(echo());
    const spinning = await served.execute({ source: 'while (true) {}' }, { kind: 'yieldAfter', ms: 10_000 });
    const event = await spinning.initialEvent;
    assert.deepEqual([event.kind, event.kind === 'terminated' && event.reason], ['terminated', 'timeLimit']);
    const unlimited = await client.createSession(echo(), { limits: { cpuTimeMs: 0 } });
    const free = await unlimited.execute({ source: 'while (true) {}' }, { kind: 'yieldAfter', ms: 500 });
    assert.equal((await free.initialEvent).kind, 'yielded', 'cpuTimeMs: 0 asked for no limit');
    await unlimited.execute({ source: 'await new Promise(() => {})' }, { kind: 'yieldAfter', ms: 0 });
    await unlimited.execute({ source: 'await new Promise(() => {})' }, { kind: 'yieldAfter', ms: 0 });
    await assert.rejects(
      served.execute({ source: '1' }),
      (error: CodeCellError) => error.code === 'ERR_LIMIT_EXCEEDED' && /already has 3 live cells/.test(error.message),
    );
  });

  test('a client that stops reading is given up once it leaves more than maxQueuedBytes unread; its sessions end', async (t) => {
    const service = await listen({
      host: '127.0.0.1',
      port: 0,
      maxQueuedBytes: 2 * 1024 * 1024,
      logger: capturingLogger(),
    });
    t.after(() => service.close());
    const { raw, send, sessionId } = await rawSession(t, service.url);
    raw.pause(); // reads nothing from now on
    const closed = new Promise((resolve) => raw.once('close', resolve));
    // Each cell's initial observation carries 1 MiB of output: far more than the bound, unread.
    for (let id = 3; id < 23; id++)
      send(id, 'cell/execute', { sessionId, request: { source: 'text("x".repeat(1 << 20))' } });
    await waitFor(() => service.stats.sessions === 0, 30_000);
    raw.resume();
    await closed;
    assert.equal(service.stats.sessions, 0, 'the connection was given up and its session shut down');
  });

  test('a client that reads nothing while its 16 cells trickle output is given up after maxStallMs; its cells stop', async (t) => {
    // A trickle, not a flood: the bytes left unread stay far under maxQueuedBytes for minutes.
    const logger = capturingLogger();
    const service = await listen({ host: '127.0.0.1', port: 0, maxStallMs: 1_000, logger });
    t.after(() => service.close());
    const { raw, send, answers, sessionId } = await rawSession(t, service.url);
    send(3, 'session/subscribe', { sessionId });
    await waitFor(() => answers.has(3));
    raw.pause(); // reads nothing from now on
    const source = 'for (;;) { text("t".repeat(1000)); await new Promise((r) => setTimeout(r, 5)) }';
    for (let id = 4; id < 20; id++) send(id, 'cell/execute', { sessionId, request: { source } });
    await waitFor(() => service.stats.sessions === 0, 60_000);
    assert.equal(service.stats.cellsRunning, 0, 'its cells stopped');
    assert.ok(
      logger.warnings.some((warning) => /the peer read nothing for 1000 ms while \d+ bytes waited/.test(warning)),
      logger.warnings.join('\n'),
    );
  });

  test('TLS: wss:// round trip with the hosts CA; an unknown CA is refused', async (t) => {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keySize: 2048,
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    });
    const service = await listen({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: pems.cert, key: pems.private },
      token: 't',
      logger: capturingLogger(),
    });
    t.after(() => service.close());
    assert.match(service.url, /^wss:\/\//);
    await assert.rejects(
      HostClient.connect({ hosts: [service.url], token: 't' }),
      (error: CodeCellError) => error.code === 'ERR_HOST_UNREACHABLE' && /self-signed|certificate/.test(error.message),
    );
    const client = await HostClient.connect({ hosts: [service.url], token: 't', tls: { ca: pems.cert } });
    t.after(() => client.close());
    const session = await client.createSession(echo(), { tools: TOOLS });
    const started = await session.execute({ source: 'text(JSON.stringify(await tools.echo({ over: "tls" })))' });
    assert.deepEqual(texts(await started.initialEvent), ['{"echoed":{"over":"tls"}}']);
  });

  test('the command line: --listen takes host:port; network options need --listen; a token file must be readable and non-empty', (t) => {
    const io = () => {
      let err = '';
      return {
        stdout: { write: () => true },
        stderr: { write: (text: string) => ((err += text), true) },
        env: {},
        err: () => err,
      };
    };
    const cases: [string[], RegExp][] = [
      [['--listen', 'nowhere'], /--listen takes <host>:<port>/],
      [['--listen', '127.0.0.1:70000'], /--listen takes <host>:<port>/],
      [['--token-file', '/x'], /--token-file needs --listen/],
      [['--listen', '127.0.0.1:0', '--token-file', '/no/such/file'], /cannot read \/no\/such\/file/],
      [['--listen', '127.0.0.1:0', '--token-file', tokenFile(t, ' ')], /empty token/],
      [['--listen', '127.0.0.1:0', '--tls-cert', tokenFile(t, 'x')], /--tls-cert and --tls-key go together/],
      [['--listen', '127.0.0.1:0', '--drain-ms', 'soon'], /--drain-ms takes a whole number/],
    ];
    for (const [args, message] of cases) {
      const out = io();
      assert.equal(hostCommand(args, out as never), 2, args.join(' '));
      assert.match(out.err(), message);
    }
    const plan = hostCommand(['--listen', '[::1]:7077', '--drain-ms', '500'], {
      ...io(),
      env: { CODECELL_TOKEN: 'env-token' },
    } as never);
    assert.deepEqual(plan, {
      mode: 'listen',
      host: '::1',
      port: 7077,
      token: 'env-token',
      tls: undefined,
      drainMs: 500,
      maxConnections: undefined,
      maxSessions: undefined,
      maxCells: undefined,
      memoryBudgetMb: undefined,
      maxJournalBytes: undefined,
      defaultLimits: { cpuTimeMs: 60_000, wallTimeMs: 600_000 },
      traces: undefined,
      maxResultBytes: undefined,
    });
    const bounded = hostCommand(['--max-result-bytes', '4096'], io() as never);
    assert.deepEqual(bounded, { mode: 'stdio', traces: undefined, maxResultBytes: 4096 });
    const tooSmall = io();
    assert.equal(hostCommand(['--max-result-bytes', '10'], tooSmall as never), 2);
    assert.match(tooSmall.err(), /--max-result-bytes must be at least 1024/);
    const capped = hostCommand(['--listen', '127.0.0.1:0', '--max-journal-bytes', '65536'], io() as never);
    assert.equal(typeof capped === 'object' && capped.mode === 'listen' && capped.maxJournalBytes, 65_536);
    const unlimited = hostCommand(
      ['--listen', '127.0.0.1:0', '--cpu-time-ms', '0', '--wall-time-ms', '0'],
      io() as never,
    );
    assert.deepEqual(typeof unlimited === 'object' && unlimited.mode === 'listen' && unlimited.defaultLimits, {
      cpuTimeMs: 0,
      wallTimeMs: 0,
    });
  });
});

/** A raw WebSocket client (no HostClient) that initialized and created one session (ids 1 and 2). */
async function rawSession(
  t: TestContext,
  url: string,
): Promise<{
  raw: WebSocket;
  send(id: number, method: string, params: object): void;
  answers: Map<number, unknown>;
  sessionId: string;
}> {
  const raw = new WebSocket(url);
  t.after(() => raw.terminate());
  await new Promise((resolve) => raw.once('open', resolve));
  const answers = new Map<number, { result?: { sessionId: string } }>();
  raw.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: { sessionId: string } };
    if (typeof message.id === 'number') answers.set(message.id, message);
  });
  const send = (id: number, method: string, params: object): void =>
    raw.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  send(1, 'initialize', { protocolVersion: 2 });
  send(2, 'session/create', {});
  await waitFor(() => answers.has(2));
  return { raw, send, answers, sessionId: answers.get(2)?.result?.sessionId as string };
}
