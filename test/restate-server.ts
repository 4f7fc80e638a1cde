// A real Restate server for the tests (issue 87): the binary the npm package
// `@restatedev/restate-server` installs (a dev dependency), on loopback ports, its data in a
// temporary folder. Where the binary is not installed, startRestate says why in one line (the
// test is skipped).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './postgres-server.js';

export interface RestateServer {
  /** Where its ingress takes invocations, e.g. `http://127.0.0.1:40123`. */
  ingress: string;
  /** Where its admin API answers. */
  admin: string;
  /** Registers the Restate endpoint (an SDK worker) that listens at `uri`. */
  register(uri: string): Promise<void>;
  /** Runs a query of its introspection tables (`sys_journal`, `sys_invocation`): the rows. */
  query(sql: string): Promise<Record<string, unknown>[]>;
  /** What it printed so far. */
  output(): string;
  /** Stops it and removes its data. */
  stop(): Promise<void>;
}

/** The server binary of this platform's package, or undefined where it is not installed. */
function binary(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve(
      `@restatedev/restate-server-${platform()}-${arch()}/bin/restate-server`,
    );
  } catch {
    return undefined;
  }
}

/**
 * A new server, started and answering; or why there is none here. The invocation retry policy is
 * shortened (the tests kill workers, and Restate runs their invocations again at its next retry),
 * and so is the time a quiet invocation waits before Restate suspends it (`suspendAfter`, 500 ms
 * by default; Restate's own is 1 minute).
 */
export async function startRestate(options: { suspendAfter?: string } = {}): Promise<RestateServer | { skip: string }> {
  const bin = binary();
  if (bin === undefined) return { skip: 'no Restate server here (npm install @restatedev/restate-server)' };
  const dir = mkdtempSync(join(tmpdir(), 'codecell-restate-'));
  const config = join(dir, 'restate.toml');
  writeFileSync(
    config,
    '[default-retry-policy]\ninitial-interval = "100ms"\nexponentiation-factor = 1.5\nmax-interval = "500ms"\n' +
      'max-attempts = 1000\non-max-attempts = "pause"\n' +
      // A quiet invocation suspends soon (an approval's wait is tested through a suspension).
      `[worker.invoker]\ninactivity-timeout = "${options.suspendAfter ?? '500ms'}"\n`,
  );
  const [ingressPort, adminPort, nodePort] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(bin, ['--config-file', config], {
    env: {
      ...process.env,
      RESTATE_BASE_DIR: join(dir, 'data'),
      RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingressPort}`,
      RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${adminPort}`,
      RESTATE_BIND_ADDRESS: `127.0.0.1:${nodePort}`,
      RESTATE_LISTEN_MODE: 'tcp',
      RESTATE_LOG_FORMAT: 'compact',
      RESTATE_LOG_FILTER: 'warn',
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit');
  const orphaned = (): void => void child.kill('SIGKILL'); // a test process that ends leaves no server
  process.once('exit', orphaned);
  const admin = `http://127.0.0.1:${adminPort}`;
  const ingress = `http://127.0.0.1:${ingressPort}`;
  const stop = async (): Promise<void> => {
    process.off('exit', orphaned);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const answers = async (url: string): Promise<boolean> => {
    try {
      return (await fetch(url)).ok;
    } catch {
      return false;
    }
  };
  for (
    const started = Date.now();
    !(await answers(`${admin}/health`)) || !(await answers(`${ingress}/restate/health`));
  ) {
    if (child.exitCode !== null || Date.now() - started > 60_000) {
      await stop();
      throw new Error(`the Restate server did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const post = async (path: string, body: unknown): Promise<Response> => {
    const response = await fetch(`${admin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`Restate admin ${path}: ${response.status} ${await response.text()}`);
    return response;
  };
  return {
    ingress,
    admin,
    register: async (uri) => void (await post('/deployments', { uri, force: true })),
    query: async (sql) =>
      ((await (await post('/query', { query: sql })).json()) as { rows: Record<string, unknown>[] }).rows,
    output: () => output,
    stop,
  };
}
