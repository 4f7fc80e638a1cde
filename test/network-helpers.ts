// Real codecell-host processes serving --listen on loopback, for the network-service tests.
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import type { CodeCellError } from '../src/index.js';
import { RecordingDelegate, tempFile } from './helpers.js';
import { HOST_NODE_FLAGS } from '../host/wire/host-process.js';
import { HOST_BIN } from './sessions.js';

export interface ListeningProcess {
  url: string;
  child: ChildProcess;
  /** What the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or the signal) once the process ended. */
  exited: Promise<number | string>;
}

/** Starts `codecell-host --listen <address> ...args` and waits for its "listening on" line. */
export async function startListening(
  t: TestContext,
  address: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<ListeningProcess> {
  // With the host's flags given, the bin serves in this process (no relaunch): signals reach it.
  const child = spawn(process.execPath, [...HOST_NODE_FLAGS, HOST_BIN, '--listen', address, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'none')),
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk;
      const match = /codecell-host listening on (\S+)\n/.exec(stderr);
      if (match !== null) resolve(match[1] as string);
    });
    void exited.then((code) => reject(new Error(`codecell-host exited (${code}) before listening: ${stderr}`)));
  });
  return { url, child, stderr: () => stderr, exited };
}

/** GET on the host's port (http for ws://, https for wss://). */
export async function probe(url: string, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${url.replace(/^ws/, 'http')}${path}`);
  return { status: response.status, text: await response.text() };
}

export const TOOLS = [{ name: 'echo' }];
export const echo = (): RecordingDelegate =>
  new RecordingDelegate({ echo: (call) => ({ echoed: call.input ?? null }) });
export const codeOf = (error: unknown): string => (error as CodeCellError).code;

/** A file holding `token` (for --token-file), removed once `t` ends. */
export const tokenFile = (t: TestContext, token: string): string => tempFile(t, 'codecell-token-', `${token}\n`);

/** Reads one metric's value from the exposition text (the line `name{labels} value`). */
export function metric(text: string, line: string): number | undefined {
  const found = text.split('\n').find((row) => row.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}
