// One agent process of the nemesis (issue 68): sessions kept in a PostgreSQL store, on
// codecell-host children it spawns, driven without end — each cell makes a charge (not
// idempotent), then a rate (idempotent) and a lookup in parallel, and stores a counter one higher
// than the last. Every few hundred ms it adopts the sessions whose owner is gone (their lease ran
// out). It writes what it saw to its journal file, synchronously (a kill -9 keeps what was
// written): each call it hands to the tool service before it does, each call's outcome, each cell's
// end. It finds the hosts (codecell-host --listen, hosts.ts) through a `dns` entry whose answer is
// a file run.ts writes. Started by run.ts: `agent.js <AgentConfig as JSON>`.
import { appendFileSync, readFileSync } from 'node:fs';
import { HostClient, type RemoteSession } from '../../host/index.js';
import { postgresStore, type CellEvent, type JsonValue, type NestedToolCall } from '../../src/index.js';
import { follow } from './cursors.js';
import type { AgentEntry } from './entries.js';
import type { HostsAddress } from './hosts.js';

export const NEMESIS_TOOLS = [{ name: 'charge' }, { name: 'rate', idempotent: true }, { name: 'lookup' }];
export const NEMESIS_LEASE_MS = 1_000;
const CELL =
  'const c = await tools.charge({ n: 1 }); const [r, l] = await Promise.all([tools.rate({}), tools.lookup({})]);' +
  " const i = (load('i') ?? 0) + 1; store('i', i); text('i=' + i + ' ' + [c.took, r.took, l.took].join('/'))";
const WAIT = { kind: 'yieldAfter', ms: 60_000 } as const;

/** What run.ts starts an agent with. */
export interface AgentConfig {
  id: string;
  postgres: string;
  /** The tool service's URL. */
  service: string;
  journal: string;
  /** Where the sessions' cursor files are (cursors.ts). */
  cursors: string;
  /** How many sessions it makes (a restarted agent makes none: it recovers). */
  fresh: number;
  hosts: HostsAddress;
}

if (process.argv[1]?.endsWith('agent.js') === true) {
  const { id, postgres, service, journal, cursors, fresh, hosts } = JSON.parse(process.argv[2] ?? '') as AgentConfig;
  const write = (entry: AgentEntry): void => appendFileSync(journal, `${JSON.stringify(entry)}\n`);
  const delegate = {
    async invokeTool(call: NestedToolCall): Promise<JsonValue> {
      const key = call.idempotencyKey;
      write({ t: 'invoke', key, tool: call.tool.name });
      try {
        const response = await fetch(service, { method: 'POST', body: JSON.stringify({ key, tool: call.tool.name }) });
        if (!response.ok) throw new Error(`tool service: ${response.status}`);
        const result = (await response.json()) as JsonValue;
        write({ t: 'outcome', key, ok: true });
        return result;
      } catch (error) {
        write({ t: 'outcome', key, ok: false });
        throw error;
      }
    },
    async notify(): Promise<void> {},
  };
  // What the client warns of goes to a log beside the journal (for a violation's history).
  const log = (level: string) => (message: string) =>
    appendFileSync(`${journal}.log`, `${new Date().toISOString()} ${level} ${message}\n`);
  const logger = { warn: log('warn'), error: log('error') };
  const store = postgresStore({ connectionString: postgres });
  const client = await HostClient.connect({
    hosts: [{ dns: hosts.dns }],
    resolve: async () => JSON.parse(readFileSync(hosts.answers, 'utf8')) as string[],
    resolveIntervalMs: 300,
    statusIntervalMs: 300,
    livenessTimeoutMs: 1_000,
    connectTimeoutMs: 1_000,
    token: hosts.token,
    store,
    leaseMs: NEMESIS_LEASE_MS,
    logger,
  });
  // The session each key is driven as: a newer one (recovered again while the former one's drive
  // winds down) is driven too — the former one no longer lives here.
  const driven = new Map<string, RemoteSession>();
  let follows = 0;
  // The quiet phase: no new cells; those open are seen to their end.
  let quiet = false;
  process.on('SIGUSR2', () => (quiet = true));

  /**
   * Runs cells in the session while it lives here (until it moves to another owner, or this one
   * stops). A request that fails while the session lives (its host closed the connection while
   * it moved) is no reason to leave: this agent still holds its lease, so nobody else would take
   * the session up and a cell it left open would stay open.
   */
  async function drive(session: RemoteSession): Promise<void> {
    if (driven.get(session.key) === session) return;
    driven.set(session.key, session);
    void follow(cursors, session, `${id}/${process.pid}/${++follows}`);
    // Cells 1…settled are seen to their end.
    let settled = 0;
    try {
      while (session.isAlive) {
        try {
          // Open cells (running again after a recovery, paused in doubt, or admitted by a request
          // whose answer was lost) are seen to their end first: a probe that stores nothing tells
          // how many ids there are; the newest first (an open cell is most likely one of them). Then
          // one cell at a time.
          const probe = Number((await session.execute({ source: "text('probe')" })).cellId);
          for (let cell = probe - 1; cell > settled; cell--) await settle(session, String(cell));
          settled = probe;
          while (session.isAlive && !quiet) {
            const { cellId, initialEvent } = await session.execute({ source: CELL }, WAIT);
            await settle(session, cellId, initialEvent);
            settled = Number(cellId);
          }
          return;
        } catch (error) {
          logger.warn(`session ${session.key}: ${String(error)}; looked at again while it lives here`);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      // Moved to another owner, or its store or hosts failed for good: another owner goes on.
      logger.warn(`session ${session.key} left`);
    } finally {
      if (driven.get(session.key) === session) driven.delete(session.key);
    }
  }

  /**
   * Sees the cell to its end (`initial`: its first observation, if it has one): each end written
   * with its text; one paused in doubt is settled with an error (the agent cannot tell).
   */
  async function settle(session: RemoteSession, cellId: string, initial?: Promise<CellEvent>): Promise<void> {
    let event = await initial?.catch(() => undefined);
    let text: string[] = [];
    for (;;) {
      while (event === undefined) {
        try {
          event = await session.observe(cellId, WAIT);
        } catch (error) {
          // Not open here (it ended before a recovery): done. Anything else (its host was lost, the
          // session moves): looked at again while the session lives, so cells never overlap.
          if ((error as { code?: string }).code === 'ERR_MISSING_CELL' || !session.isAlive) return;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      const { items, ...rest } = event;
      text = [...text, ...items.map((item) => (item.type === 'text' ? item.text : ''))];
      if (event.kind !== 'yielded' && event.kind !== 'pending')
        write({ t: 'cell', session: session.key, cellId, event: { ...rest, text: text.join('\n') } });
      if (event.kind === 'completed' || event.kind === 'terminated') return;
      event =
        event.kind === 'interrupted'
          ? await session.resumeCell(cellId, { error: 'left in doubt' }, WAIT).catch(() => undefined)
          : undefined;
    }
  }

  for (let n = 0; n < fresh; n++)
    void client.createSession(delegate, { key: `${id}-${n}`, tools: NEMESIS_TOOLS }).then(drive, () => {});
  // Sessions whose owner is gone are taken up here.
  for (;;) {
    const began = Date.now();
    const watch = setInterval(() => logger.warn(`recover running for ${Date.now() - began} ms`), 10_000);
    const adopted = await client
      .recover(() => delegate)
      .catch((error: unknown) => {
        logger.warn(`recover failed: ${String(error)}`);
        return [];
      });
    clearInterval(watch);
    for (const session of adopted) void drive(session);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
