// What the peer benchmark drives: a runtime that opens sessions whose cells call one tool, `echo`.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HostClient, type HostClientOptions } from '../../host/index.js';
import { HOST_NODE_FLAGS } from '../../host/wire/host-process.js';
import {
  SessionRuntime,
  type CellEvent,
  type CodeCellSession,
  type SessionRuntimeDelegate,
  type SessionRuntimeOptions,
} from '../../src/index.js';
import { DEFAULT_YIELD_MS } from '../../src/internal.js';
import { quietLogger } from '../common.js';

/** The tool every benchmark cell calls (`tools.echo`); what it returns goes back to the cell. */
export type ToolHandler = (input: unknown) => unknown;

export interface BenchSession {
  /** Runs a cell to its end: its text items, and its error if it failed. */
  run(source: string): Promise<{ text: string[]; error: string | undefined }>;
  close(): Promise<void>;
}

export interface BenchSubject {
  readonly name: string;
  openSession(tool: ToolHandler): Promise<BenchSession>;
  close(): Promise<void>;
}

const tools = [{ name: 'echo' }];
const HOST_MAIN = fileURLToPath(new URL('../../host/bin/codecell-host.js', import.meta.url));

function delegateOf(tool: ToolHandler): SessionRuntimeDelegate {
  return { invokeTool: async (call) => (await tool(call.input)) as never, notify: async () => {} };
}

/** `yieldMs`: how long a cell may run before it counts as failed (it yielded instead of completing). */
function benchSession(session: CodeCellSession, yieldMs = DEFAULT_YIELD_MS): BenchSession {
  return {
    run: async (source) => {
      const event: CellEvent = await (
        await session.execute({ source }, { kind: 'yieldAfter', ms: yieldMs })
      ).initialEvent;
      if (event.kind !== 'completed') {
        const why = event.kind === 'terminated' ? ` (${event.reason ?? 'requested'})` : '';
        throw new Error(`a benchmark cell ended ${event.kind}${why}: ${JSON.stringify(event.items).slice(0, 200)}`);
      }
      return { text: event.items.flatMap((item) => (item.type === 'text' ? [item.text] : [])), error: event.error };
    },
    close: () => session.shutdown(),
  };
}

/** An embedded session (a SessionRuntime) with `options` (a store, limits); `yieldMs` as for benchSession. */
export const embeddedSession = (
  tool: ToolHandler,
  yieldMs?: number,
  options: Pick<SessionRuntimeOptions, 'store' | 'limits'> = {},
): BenchSession =>
  benchSession(new SessionRuntime(delegateOf(tool), { tools, logger: quietLogger, ...options }), yieldMs);

/** codecell embedded: one SessionRuntime per session. */
export const inProcess: BenchSubject = {
  name: 'codecell in-process',
  openSession: async (tool) => embeddedSession(tool),
  close: async () => {},
};

/** codecell-host child processes behind one HostClient; `yieldMs` as for benchSession. */
export async function overStdio(
  name: string,
  options: HostClientOptions = {},
  yieldMs?: number,
): Promise<BenchSubject> {
  const client = await HostClient.spawn({ logger: quietLogger, stderr: 'ignore', ...options });
  return {
    name,
    openSession: async (tool) => benchSession(await client.createSession(delegateOf(tool), { tools }), yieldMs),
    close: () => client.close(),
  };
}

/** Starts `codecell-host --listen 127.0.0.1:0` processes; their URLs, and a stop for them all. */
export async function listeningHosts(
  count: number,
): Promise<{ urls: string[]; pids: number[]; stop(): Promise<void> }> {
  const children = await Promise.all(
    Array.from({ length: count }, async () => {
      const child = spawn(process.execPath, [...HOST_NODE_FLAGS, HOST_MAIN, '--listen', '127.0.0.1:0'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const url = await new Promise<string>((resolve, reject) => {
        let stderr = '';
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (chunk: string) => {
          stderr += chunk;
          const match = /listening on (\S+)\n/.exec(stderr);
          if (match !== null) resolve(match[1] as string);
        });
        child.once('exit', (code) => reject(new Error(`codecell-host --listen exited ${code}: ${stderr}`)));
      });
      return { child, url };
    }),
  );
  return {
    urls: children.map(({ url }) => url),
    pids: children.map(({ child }) => child.pid ?? 0),
    stop: async () => {
      await Promise.all(
        children.map(
          ({ child }) =>
            new Promise((resolve) =>
              child.exitCode !== null ? resolve(null) : (child.once('exit', resolve), child.kill('SIGTERM')),
            ),
        ),
      );
    },
  };
}

/** codecell-host --listen processes on loopback behind one HostClient (WebSocket). */
export async function overNetwork(name: string, hosts: number): Promise<BenchSubject> {
  const listening = await listeningHosts(hosts);
  const client = await HostClient.connect({ hosts: listening.urls, logger: quietLogger });
  return {
    name,
    openSession: async (tool) => benchSession(await client.createSession(delegateOf(tool), { tools })),
    close: async () => {
      await client.close();
      await listening.stop();
    },
  };
}
