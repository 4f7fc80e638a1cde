// One agent process of the nemesis (issues 68, 83), of one of three kinds: `remote` (sessions on
// codecell-host children, a postgresStore), `embedded-pg` (SessionRuntime in the agent's own
// process, a postgresStore) or `embedded-sqlite` (the same, a sqliteStore one file every agent of
// that kind shares). Its sessions are driven without end: each cell makes a charge (not
// idempotent), then a rate (idempotent) and a lookup in parallel, and every third cell a deploy
// that needs a person's approval (approved after a short while, or declined); it stores a counter
// one higher than the last and prints what each call told it. Every few hundred ms it adopts the
// sessions whose owner is gone. It writes to its journal, synchronously (a kill -9 keeps what was
// written): each call it hands to the tool service before it does, each call's outcome, each
// pause and each cell's end. Started by run.ts: `agent.js <AgentConfig as JSON>`.
import { appendFileSync, readFileSync } from 'node:fs';
import { HostClient } from '../../host/index.js';
import {
  CellInterrupt,
  postgresStore,
  SessionRuntime,
  sqliteStore,
  type CellEvent,
  type CodeCellSession,
  type CodeCellStore,
  type JsonValue,
  type NestedToolCall,
  type SessionRuntimeDelegate,
} from '../../src/index.js';
import { follow } from './cursors.js';
import type { AgentEntry } from './entries.js';
import type { HostsAddress } from './hosts.js';

export const NEMESIS_TOOLS = [
  { name: 'charge' },
  { name: 'rate', idempotent: true },
  { name: 'lookup' },
  { name: 'deploy' },
];
export const NEMESIS_LEASE_MS = 1_000;
/** What a cell tells of a call that a recovery found in doubt, once the agent settles it. */
export const IN_DOUBT = 'left in doubt';
/**
 * Each call's outcome as the cell was told it (`ok:<times it took effect>` or `err:<message>`); a
 * deploy (needing approval) every third cell; the stored counter one higher.
 */
const CELL = [
  "const told = (call) => call.then((v) => 'ok:' + v.took, (e) => 'err:' + e.message);",
  "const i = (load('i') ?? 0) + 1;",
  'const c = await told(tools.charge({ n: 1 }));',
  'const [r, l] = await Promise.all([told(tools.rate({})), told(tools.lookup({}))]);',
  "const d = i % 3 === 0 ? await told(tools.deploy({})) : 'none';",
  "store('i', i);",
  'text(JSON.stringify({ i, charge: c, rate: r, lookup: l, deploy: d }));',
].join(' ');
const WAIT = { kind: 'yieldAfter', ms: 60_000 } as const;

export type AgentKind = 'remote' | 'embedded-pg' | 'embedded-sqlite';

/** What run.ts starts an agent with. */
export interface AgentConfig {
  id: string;
  kind: AgentKind;
  /** Its store: a PostgreSQL URL, or (embedded-sqlite) a file. */
  store: string;
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
  const config = JSON.parse(process.argv[2] ?? '') as AgentConfig;
  const { id, kind, service, journal, cursors, fresh, hosts } = config;
  const write = (entry: AgentEntry): void => appendFileSync(journal, `${JSON.stringify(entry)}\n`);
  const delegate: SessionRuntimeDelegate = {
    async invokeTool(call: NestedToolCall): Promise<JsonValue> {
      const key = call.idempotencyKey;
      const tool = call.tool.name;
      // A deploy needs a person's approval first (settle() gives it, or declines).
      if (tool === 'deploy' && call.approved !== true) throw new CellInterrupt({ ask: 'deploy?' });
      write({ t: 'invoke', key, tool });
      try {
        const response = await fetch(service, { method: 'POST', body: JSON.stringify({ key, tool }) });
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
  // What codecell warns of goes to a log beside the journal (for a violation's history).
  const log = (level: string) => (message: string) =>
    appendFileSync(`${journal}.log`, `${new Date().toISOString()} ${level} ${message}\n`);
  const logger = { warn: log('warn'), error: log('error') };
  const store: CodeCellStore =
    kind === 'embedded-sqlite'
      ? sqliteStore({ path: config.store })
      : postgresStore({ connectionString: config.store });
  const leaseMs = NEMESIS_LEASE_MS;
  let create: (key: string) => Promise<CodeCellSession>;
  let recover: () => Promise<CodeCellSession[]>;
  if (kind === 'remote') {
    const client = await HostClient.connect({
      hosts: [{ dns: hosts.dns }],
      resolve: async () => JSON.parse(readFileSync(hosts.answers, 'utf8')) as string[],
      resolveIntervalMs: 300,
      statusIntervalMs: 300,
      livenessTimeoutMs: 1_000,
      connectTimeoutMs: 1_000,
      token: hosts.token,
      store,
      leaseMs,
      logger,
    });
    create = (key) => client.createSession(delegate, { key, tools: NEMESIS_TOOLS });
    recover = () => client.recover(() => delegate);
  } else {
    create = async (key) => new SessionRuntime(delegate, { key, tools: NEMESIS_TOOLS, store, leaseMs, logger });
    recover = () => SessionRuntime.recover(store, () => delegate, { leaseMs, logger });
  }
  // The session each key is driven as: a newer one (recovered again while the former one's drive
  // winds down) is driven too — the former one no longer lives here.
  const driven = new Map<string, CodeCellSession>();
  /** The sessions written down as made (`created`, once each). */
  const announced = new Set<string>();
  const announce = (key: string): void => {
    if (announced.has(key)) return;
    announced.add(key);
    write({ t: 'created', session: key });
  };
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
  async function drive(session: CodeCellSession): Promise<void> {
    if (driven.get(session.key) === session) return;
    driven.set(session.key, session);
    void follow(cursors, session, `${id}/${process.pid}/${++follows}`);
    try {
      while (session.isAlive) {
        try {
          // The cells it still has (running again after a recovery, paused, or ended unread) are
          // seen to their end first; then one cell at a time.
          for (const { cellId } of session.cells()) await settle(session, cellId);
          while (session.isAlive && !quiet) {
            const { cellId, initialEvent } = await session.execute({ source: CELL }, WAIT);
            // In process, a session is kept from its first admitted cell (its constructor answers
            // nothing; one whose creator died before any is removed by a recovery): made now.
            if (kind !== 'remote') announce(session.key);
            await settle(session, cellId, initialEvent);
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
   * Sees the cell to its end (`initial`: its first observation, if it has one): each pause and end
   * written with its text; a call in doubt is settled with an error (the agent cannot tell), a
   * deploy approved after a short while (two times in three) or declined.
   */
  async function settle(session: CodeCellSession, cellId: string, initial?: Promise<CellEvent>): Promise<void> {
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
      event = event.kind === 'interrupted' ? await decide(session, cellId, event) : undefined;
    }
  }

  /** What the agent answers a pause with: an error for a call in doubt, a person's decision for a deploy. */
  async function decide(session: CodeCellSession, cellId: string, paused: CellEvent): Promise<CellEvent | undefined> {
    const inDoubt = paused.kind === 'interrupted' && paused.reason === 'inDoubt';
    if (!inDoubt) await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 400)));
    const answer = inDoubt
      ? { error: IN_DOUBT }
      : Math.random() < 2 / 3
        ? { approved: true as const }
        : { declined: true as const };
    return session.resumeCell(cellId, answer, WAIT).catch(() => undefined);
  }

  /**
   * Makes the session `key` and drives it; made again while nothing of it was acknowledged (its
   * creation failed, or it ended before its first cell was admitted, the store down both times):
   * a real agent tries again, and what such a try left is removed by a recovery meanwhile.
   */
  async function make(key: string): Promise<void> {
    while (!quiet) {
      try {
        const session = await create(key);
        // Over the wire, createSession answers once the session is kept.
        if (kind === 'remote') announce(key);
        await drive(session);
      } catch (error) {
        logger.warn(`making session ${key} failed: ${String(error)}`);
      }
      if (announced.has(key)) return;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  for (let n = 0; n < fresh; n++) void make(`${id}-${n}`);
  // Sessions whose owner is gone are taken up here.
  for (;;) {
    const began = Date.now();
    const watch = setInterval(() => logger.warn(`recover running for ${Date.now() - began} ms`), 10_000);
    const adopted = await recover().catch((error: unknown) => {
      logger.warn(`recover failed: ${String(error)}`);
      return [];
    });
    clearInterval(watch);
    for (const session of adopted) void drive(session);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
