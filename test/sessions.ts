// The CodeCellSession implementations the contract tests run against.
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HostClient, type SessionBuilderOptions } from '../host/index.js';
import { connectInProcess } from '../host/in-process.js';
import { listen } from '../host/server/listen.js';
import type { CodeCellSession, SessionRuntimeDelegate, ToolDefinition } from '../src/index.js';
import type { CellLimits } from '../src/limits.js';
import { capturingLogger, newRuntime } from './helpers.js';

export interface SessionSetup {
  tools?: ToolDefinition[];
  limits?: Partial<CellLimits>;
  storedValues?: 'enabled' | 'disabled';
  callbackAbortDeadlineMs?: number;
  key?: string;
}

export interface SessionKind {
  name: string;
  open(t: TestContext, delegate: SessionRuntimeDelegate, setup?: SessionSetup): Promise<CodeCellSession>;
}

export const HOST_BIN = fileURLToPath(new URL('../../bin/codecell-host.js', import.meta.url));

export const inProcess: SessionKind = {
  name: 'in-process SessionRuntime',
  open: async (t, delegate, setup = {}) => newRuntime(t, delegate, setup),
};

export const linkedHost: SessionKind = {
  name: 'HostClient over linked streams',
  open: async (t, delegate, setup = {}) => {
    const linked = await connectInProcess({ logger: capturingLogger() });
    t.after(() => linked.close());
    const session = await linked.client.createSession(delegate, setup);
    t.after(() => session.shutdown());
    return session;
  },
};

export const spawnedHost: SessionKind = {
  name: 'HostClient spawning the codecell-host bin',
  open: async (t, delegate, setup = {}) => {
    const client = await HostClient.spawn({ command: HOST_BIN, args: [], logger: capturingLogger() });
    t.after(() => client.close());
    const session = await client.createSession(delegate, setup);
    t.after(() => session.shutdown());
    return session;
  },
};

/** codecell-host's network service in this process (listen), reached by HostClient.connect over WebSocket. */
export const networkHost: SessionKind = {
  name: 'HostClient over WebSocket (codecell-host --listen)',
  open: async (t, delegate, setup = {}) => {
    const service = await listen({ host: '127.0.0.1', port: 0, token: 'contract', logger: capturingLogger() });
    t.after(() => service.close());
    const client = await HostClient.connect({ hosts: [service.url], token: 'contract', logger: capturingLogger() });
    t.after(() => client.close());
    const session = await client.createSession(delegate, setup);
    t.after(() => session.shutdown());
    return session;
  },
};

export const bothKinds: SessionKind[] = [inProcess, linkedHost];

/** Where a SessionBuilder starts its session: in this process, or on codecell-host. */
export interface BuilderKind {
  name: string;
  options(t: TestContext): Promise<SessionBuilderOptions>;
}

export const builderKinds: BuilderKind[] = [
  { name: 'in-process', options: async () => ({ logger: capturingLogger() }) },
  {
    name: 'on codecell-host (HostClient over linked streams)',
    options: async (t) => {
      const linked = await connectInProcess({ logger: capturingLogger() });
      t.after(() => linked.close());
      return { host: linked.client, logger: capturingLogger() };
    },
  },
];
