// A real agent process for the recovery tests (fixtures/store-agent.ts): run until its session is
// where the tests want it (a cell completed, one waiting on a call in doubt, one paused for
// approval), then killed with -9 — nothing of it ends cleanly.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from './helpers.js';

const AGENT = fileURLToPath(new URL('./fixtures/store-agent.js', import.meta.url));

/** Runs the agent with its store at `where` (`--remote`: its session on a host) until READY, kills it -9; what it printed. */
export async function crashAgent(t: TestContext, where: string, ...flags: string[]): Promise<string> {
  const child = spawn(process.execPath, ['--no-node-snapshot', AGENT, '--run-fixture', where, ...flags], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let exited = false;
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.on('exit', () => (exited = true));
  await waitFor(() => out.includes('READY') || exited, 60_000);
  child.kill('SIGKILL');
  if (!exited) await once(child, 'exit');
  return out.trim();
}

/** Recovers until a session's lease has run out and it is adopted (a bounded number of tries). */
export async function untilRecovered<S>(recover: () => Promise<S[]>): Promise<S[]> {
  for (let tries = 0; tries < 200; tries++) {
    const recovered = await recover();
    if (recovered.length > 0) return recovered;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return [];
}
