// Issue 64 (STYLE 31): every way into a host — execute, cell/replay, a restore, resumeCell — passes
// one gate: the connection's --max-cells, the session's maxCellsPerSession, the memory budget (a
// paused cell holds its journal), a served cap on journalMaxBytes; counters never go negative;
// cell ids stay unique and bounded.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import { createHost } from '../host/index.js';
import { HostStats } from '../host/server/stats.js';
import {
  CellInterrupt,
  IsolatePool,
  SessionRuntime,
  type PausedCellSnapshot,
  type ReplayableCell,
  type SessionSnapshot,
} from '../src/index.js';
import { capturingLogger, newRuntime, RecordingDelegate, texts } from './helpers.js';
import { RawClient } from './wire.js';

const TOOLS = [{ name: 'get' }, { name: 'approve' }];

/** A session with one cell paused for approval after one call (its result `pad` long), as a snapshot. */
async function pausedSnapshot(t: TestContext, pad = 0): Promise<SessionSnapshot> {
  const delegate = new RecordingDelegate({
    get: () => ({ pad: 'x'.repeat(pad) }),
    approve: () => {
      throw new CellInterrupt({ ask: 'ok?' });
    },
  });
  const session = newRuntime(t, delegate, { tools: TOOLS, limits: { journalMaxBytes: 8 << 20 } });
  const started = await session.execute({
    source: 'const a = await tools.get({}); await tools.approve({}); text("done")',
  });
  assert.equal((await started.initialEvent).kind, 'interrupted');
  return JSON.parse(JSON.stringify(await session.suspend())) as SessionSnapshot;
}

/** The snapshot's paused cell as `count` paused cells of ids 1…count. */
function pausedCells(snapshot: SessionSnapshot, count: number): PausedCellSnapshot[] {
  const cell = snapshot.pausedCells?.[0] as PausedCellSnapshot;
  return Array.from({ length: count }, (_, index) => ({
    ...cell,
    event: { ...cell.event, cellId: String(index + 1) },
  }));
}

/** The snapshot's paused cell as a cell lost with another host, running (or `paused`), of id `cellId`. */
function replayable(snapshot: SessionSnapshot, cellId: string, paused = false): ReplayableCell {
  const { held: _, event, ...cell } = snapshot.pausedCells?.[0] as PausedCellSnapshot;
  return { ...cell, cellId, outstanding: [], ...(paused ? { paused: { ...event, cellId } } : {}) };
}

/** A host on in-memory streams, spoken to byte by byte, with the bounds given. */
async function host(t: TestContext, options: Parameters<typeof createHost>[0] = {}): Promise<RawClient> {
  const toHost = new PassThrough();
  const fromHost = new PassThrough();
  const served = createHost({ input: toHost, output: fromHost, logger: capturingLogger(), ...options });
  t.after(async () => {
    toHost.end();
    await served.closed;
  });
  const raw = new RawClient(fromHost, toHost);
  await raw.call('initialize', { protocolVersion: 2 });
  return raw;
}

const codeOf = (answer: { error?: { data?: unknown } }): unknown => (answer.error?.data as { code?: string })?.code;

describe('one gate into a host', { timeout: 60_000, concurrency: true }, () => {
  test('cell/replay counts against --max-cells, running or paused: past it, refused', async (t) => {
    const snapshot = await pausedSnapshot(t);
    const raw = await host(t, { maxLiveCells: 2 });
    const created = await raw.call('session/create', {
      tools: TOOLS,
      restore: { storedValues: {}, nextCellId: 10 },
      mirror: true,
    });
    const { sessionId } = created.result as { sessionId: string };
    assert.deepEqual((await raw.call('cell/replay', { sessionId, cell: replayable(snapshot, '1') })).result, {});
    assert.deepEqual((await raw.call('cell/replay', { sessionId, cell: replayable(snapshot, '2', true) })).result, {});
    const third = await raw.call('cell/replay', { sessionId, cell: replayable(snapshot, '3') });
    assert.equal(codeOf(third), 'ERR_LIMIT_EXCEEDED');
    assert.match(third.error?.message ?? '', /already has 2 live cells of 2 \(the host's --max-cells\)/);
  });

  test('restored paused cells count from their start: cellsRunning rises with them and falls back to 0', async (t) => {
    const snapshot = await pausedSnapshot(t);
    const stats = new HostStats();
    const raw = await host(t, { stats, maxLiveCells: 8 });
    const restore = { storedValues: {}, nextCellId: 10, pausedCells: pausedCells(snapshot, 5) };
    const created = await raw.call('session/create', { tools: TOOLS, restore });
    const { sessionId } = created.result as { sessionId: string };
    assert.equal(stats.cellsRunning, 5);
    // Past the connection's bound, a restore is refused whole.
    const refused = await raw.call('session/create', {
      tools: TOOLS,
      restore: { ...restore, pausedCells: pausedCells(snapshot, 4) },
    });
    assert.equal(codeOf(refused), 'ERR_LIMIT_EXCEEDED');
    assert.equal(stats.cellsRunning, 5);
    await raw.call('session/shutdown', { sessionId });
    assert.equal(stats.cellsRunning, 0);
  });

  test('a restore past maxCellsPerSession, with an id twice, or past the last safe id is refused, saying why', async (t) => {
    const snapshot = await pausedSnapshot(t);
    const delegate = new RecordingDelegate();
    const resume = (changes: Partial<SessionSnapshot>) => () =>
      SessionRuntime.resume({ ...snapshot, ...changes }, delegate, { logger: capturingLogger() });
    assert.throws(resume({ pausedCells: pausedCells(snapshot, 65), nextCellId: 100 }), {
      code: 'ERR_INVALID_REQUEST',
      message: 'cannot resume the session: it has 65 paused cells, over its maxCellsPerSession (64)',
    });
    const twice = [...pausedCells(snapshot, 1), ...pausedCells(snapshot, 1)];
    assert.throws(resume({ pausedCells: twice }), {
      code: 'ERR_INVALID_REQUEST',
      message: 'cannot resume the session: snapshot.pausedCells holds cell 1 twice',
    });
    assert.throws(resume({ nextCellId: 2 ** 53 }), { code: 'ERR_INVALID_REQUEST' });
    // The last safe id is given out once; then the session has none left.
    const last = newRuntime(t, delegate, {}, { ...snapshot, pausedCells: [], nextCellId: Number.MAX_SAFE_INTEGER });
    const started = await last.execute({ source: 'text("last")' });
    assert.equal(started.cellId, String(Number.MAX_SAFE_INTEGER));
    assert.deepEqual(texts(await started.initialEvent), ['last']);
    await assert.rejects(last.execute({ source: 'text(1)' }), {
      code: 'ERR_LIMIT_EXCEEDED',
      message: 'the session has given out every cell id it can',
    });
  });

  test('a paused cell holds its journal of the memory budget: restores past it go elsewhere', async (t) => {
    const snapshot = await pausedSnapshot(t, 3 << 20); // a journal of ~3 MiB
    const pool = new IsolatePool({ size: 0, memoryBudgetMb: 8 });
    const options = { logger: capturingLogger(), isolatePool: pool };
    const first = newRuntime(t, new RecordingDelegate(), options, snapshot);
    assert.ok(pool.memory.reservedMb >= 3, `${pool.memory.reservedMb} MiB`);
    newRuntime(t, new RecordingDelegate(), options, snapshot);
    assert.throws(
      () => SessionRuntime.resume(snapshot, new RecordingDelegate(), options),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'ERR_LIMIT_EXCEEDED');
        assert.match(error.message, /a paused cell's \d+ MiB of journal does not fit/);
        return true;
      },
    );
    // Ended, it lets go.
    await first.shutdown();
    newRuntime(t, new RecordingDelegate(), options, snapshot);
  });

  test('a served host caps journalMaxBytes: a replay that brings more is refused', async (t) => {
    const snapshot = await pausedSnapshot(t);
    const raw = await host(t, { caps: { journalMaxBytes: 1024 } });
    const created = await raw.call('session/create', {
      tools: TOOLS,
      mirror: true,
      restore: { storedValues: {}, nextCellId: 5 },
    });
    const { sessionId } = created.result as { sessionId: string };
    const cell = replayable(snapshot, '1');
    const refused = await raw.call('cell/replay', { sessionId, cell });
    assert.equal(codeOf(refused), 'ERR_LIMIT_EXCEEDED');
    assert.match(refused.error?.message ?? '', /journalMaxBytes/);
  });

  test('a replay whose paused event does not name its tool is refused at the replay, -32602 saying why', async (t) => {
    const snapshot = await pausedSnapshot(t);
    const raw = await host(t);
    const created = await raw.call('session/create', { tools: TOOLS, restore: { storedValues: {}, nextCellId: 10 } });
    const { sessionId } = created.result as { sessionId: string };
    const cell = replayable(snapshot, '1', true);
    const { tool: _, ...toolless } = cell.paused as NonNullable<ReplayableCell['paused']>;
    const forged = await raw.call('cell/replay', { sessionId, cell: { ...cell, paused: toolless } });
    assert.equal(forged.error?.code, -32602);
    assert.match(forged.error?.message ?? '', /cell\.paused must be its interrupted event/);
    // The genuine one is taken, and resumed once.
    assert.deepEqual((await raw.call('cell/replay', { sessionId, cell })).result, {});
    const resumed = await raw.call('cell/resume', { sessionId, cellId: '1', answer: { result: true } });
    assert.equal(resumed.error, undefined, JSON.stringify(resumed.error));
    // Resumed once: a second resume is refused as a client's fault, not an internal error.
    const again = await raw.call('cell/resume', { sessionId, cellId: '1', answer: { result: true } });
    assert.equal(again.error?.code, -32602);
    assert.equal(codeOf(again), 'ERR_MISSING_CELL');
  });
});
