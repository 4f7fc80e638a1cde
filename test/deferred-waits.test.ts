// The deferred wait (ADR 23): after a tool call the sandbox's thread waits for the host where it
// would have gone idle, and a result that is ready enters in that task; calls stay parallel.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { availableParallelism } from 'node:os';
import { answeredReadingCount, waitedDeliveriesCount } from '../src/internal.js';
import { memoryStore, type CodeCellSession } from '../src/index.js';
import { deferred, newRuntime, RecordingDelegate, texts } from './helpers.js';
import { bothKinds, inProcess } from './sessions.js';
import { run } from './cell-helpers.js';

const TOOLS = [{ name: 'echo' }, { name: 'slow' }, { name: 'fail' }, { name: 'busy' }];

/**
 * Waits are taken by a cell whose journal stays in its process (the default): its journal records
 * which results they took. One whose journal a store or a host's client keeps never waits.
 */
const WAITS = { tools: TOOLS };

/**
 * echo answers at once; slow answers once `release` resolves; fail throws; busy holds the
 * delegate's thread for 150 ms (past the 50 ms the sandbox sleeps at most for an answer), then
 * answers.
 */
function delegate(release: Promise<void>): RecordingDelegate & { inFlight: number; most: number } {
  const recording = Object.assign(
    new RecordingDelegate({
      echo: ({ input }) => input,
      slow: async ({ input }) => {
        recording.inFlight++;
        recording.most = Math.max(recording.most, recording.inFlight);
        await release;
        recording.inFlight--;
        return input;
      },
      fail: () => {
        throw new Error('failed on purpose');
      },
      busy: ({ input }) => {
        const until = Date.now() + 150;
        while (Date.now() < until);
        return input;
      },
    }),
    { inFlight: 0, most: 0 },
  );
  return recording;
}

for (const kind of bothKinds) {
  describe(`deferred waits, ${kind.name}`, { timeout: 60_000 }, () => {
    test('sequential results enter through the wait, and the cell sees each one', async (t) => {
      const session = await kind.open(t, delegate(Promise.resolve()), WAITS);
      const waited = await sequentialCalls(session, 200, '19900');
      // The first result enters as a task (the module's first task takes none); in process most of
      // the rest are ready when the wait asks. Over the link a result is rarely back by then, and
      // after a wait that brought nothing the next calls go without one: some still enter so.
      assert.ok(waited >= (kind === bothKinds[0] ? 100 : 1), `${waited} waited`);
    });

    test('a cell with its journal off waits as well', async (t) => {
      const session = await kind.open(t, delegate(Promise.resolve()), { tools: TOOLS, limits: { journalMaxBytes: 0 } });
      const waited = await sequentialCalls(session, 200, '19900');
      assert.ok(waited >= (kind === bothKinds[0] ? 100 : 1), `${waited} waited`);
    });

    test('a call made a microtask after another is in flight beside it', async (t) => {
      const both = deferred();
      const recording = delegate(both.promise);
      const session = await kind.open(t, recording, WAITS);
      // The first call's wait runs before the second call is made: it must not hold the second back.
      const started = run(
        session,
        'await tools.echo({});\n' +
          'const first = tools.slow({ n: 1 });\n' +
          'const second = (async () => { await null; await null; return tools.slow({ n: 2 }) })();\n' +
          'text((await Promise.all([first, second])).map((r) => r.n).join())',
      );
      await waitForCalls(recording, 3);
      assert.equal(recording.most, 2);
      both.resolve();
      const event = await started;
      assert.deepEqual(texts(event), ['1,2']);
    });

    test("a failure in the module's first task is not the module's own error", async (t) => {
      const session = await kind.open(t, delegate(Promise.resolve()), WAITS);
      // Nothing can resume this cell: had the failure entered the module's first task through the
      // wait, it would count as an error thrown past the cell's wrapper and end the cell with it.
      const handle = await session.execute(
        { source: 'tools.fail({}); await new Promise(() => {})' },
        { kind: 'yieldAfter', ms: 300 },
      );
      const event = await handle.initialEvent;
      assert.equal(event.kind, 'yielded');
      await session.terminate(handle.cellId);
    });

    test('a failed call, results and a timer reach the cell in the order they were delivered', async (t) => {
      const session = await kind.open(t, delegate(Promise.resolve()), WAITS);
      const event = await run(
        session,
        'const seen = [];\n' +
          'for (let i = 0; i < 20; i++) {\n' +
          '  try { await tools.fail({}) } catch (error) { seen.push(String(error.message)) }\n' +
          '  seen.push((await tools.echo({ i })).i);\n' +
          '}\n' +
          'await new Promise((resolve) => setTimeout(resolve, 1));\n' +
          'text(seen.length); text(seen.slice(0, 4).join())',
      );
      assert.equal(event.kind, 'completed');
      assert.equal(event.kind === 'completed' ? event.error : '', undefined);
      assert.deepEqual(texts(event), ['40', 'failed on purpose,0,failed on purpose,1']);
    });

    test('a result longer than the box, and one of any characters, reach the cell whole', async (t) => {
      const session = await kind.open(t, delegate(Promise.resolve()), WAITS);
      // 20 000 characters: over the 8 192 code units the box takes (that one enters as a task).
      const event = await run(
        session,
        "const long = 'x'.repeat(20000) + '\u{1F600}';\n" +
          "const odd = 'a\\u0000b\\uD800c\u00e9\\n\u{1F600}';\n" +
          'for (let i = 0; i < 3; i++) {\n' +
          '  const short = await tools.echo({ odd, i });\n' +
          '  const whole = await tools.echo({ long, i });\n' +
          '  text(`${short.odd === odd}:${short.i}:${whole.long === long}:${whole.long.length}`);\n' +
          '}',
      );
      assert.equal(event.kind, 'completed');
      assert.deepEqual(texts(event), ['true:0:true:20002', 'true:1:true:20002', 'true:2:true:20002']);
    });

    test('a delegate that holds its thread past the wait lets the cell go on, in order', async (t) => {
      const session = await kind.open(t, delegate(Promise.resolve()), WAITS);
      // In process the sandbox's ask is not answered within its bound: it takes the ask back and
      // its thread goes on; the result then enters as a task, before what came after it.
      const event = await run(
        session,
        'const seen = [];\n' +
          'for (let i = 0; i < 3; i++) {\n' +
          "  const timer = new Promise((resolve) => setTimeout(() => resolve('timer'), 0));\n" +
          '  seen.push((await tools.busy({ i })).i);\n' +
          '  seen.push((await tools.echo({ i: i + 10 })).i, await timer);\n' +
          '}\n' +
          'text(seen.join())',
      );
      assert.equal(event.kind, 'completed');
      assert.deepEqual(texts(event), ['0,10,timer,1,11,timer,2,12,timer']);
    });
  });
}

// In process only: over the link few results are back when the wait asks.
describe('deferred waits, in process: the answers', { timeout: 60_000 }, () => {
  test('a cell whose journal a store keeps never waits: each result enters as a task', async (t) => {
    // The store's records do not say which results a wait took: a recovery elsewhere could not
    // answer its asks the same way.
    const session = newRuntime(t, delegate(Promise.resolve()), { tools: TOOLS, store: memoryStore() });
    assert.equal(await sequentialCalls(session, 200, '19900'), 0);
  });

  test('an answer of none at the turn is for its own ask, never the next one', async (t) => {
    const session = await inProcess.open(t, delegate(Promise.resolve()), WAITS);
    // The first result enters as a task; the rest are ready when their wait asks. A host that
    // answered a newer ask with the none it had queued for an older one missed 16 to 46 here.
    const missed = 5000 - (await sequentialCalls(session, 5000, '12497500'));
    assert.ok(missed <= 10, `${missed} of 5 000 results entered as tasks`);
  });
});

// A waiting thread reads its box a while before it sleeps (codecellSpin): woken from sleep,
// each result costs a wake, most of all on a virtual machine whose idle CPU the hypervisor takes
// back. The sandbox counts the waits answered while it read.
describe('deferred waits, in process: reading the box before sleeping', { timeout: 60_000 }, () => {
  test('a lone cell takes most results while it reads its box', async (t) => {
    const session = await inProcess.open(t, delegate(Promise.resolve()), WAITS);
    // Asleep, a thread finds its answer written before it is woken in ~1 % of calls. A host whose
    // code is still cold, or a loaded machine, may answer later than a thread reads, and each wait
    // that read in vain makes the next ones sleep at once: up to five cells, until one took a quarter.
    const counts: number[] = [];
    while (counts.length < 5 && !(counts.at(-1)! >= 125)) counts.push(await answeredReading(session));
    assert.ok(counts.at(-1)! >= 125, `waits answered while reading, per cell of 500: ${counts.join(', ')}`);
  });

  test('no thread reads its box while more cells are in use than CPUs beside the main thread', async (t) => {
    // Cells of another session, each waiting for a tool that answers when the test ends.
    const release = deferred();
    t.after(() => release.resolve());
    const held = delegate(release.promise);
    const other = await inProcess.open(t, held, WAITS);
    for (let i = 0; i < availableParallelism(); i++) await other.execute({ source: 'await tools.slow({})' });
    await waitForCalls(held, availableParallelism());
    const session = await inProcess.open(t, delegate(Promise.resolve()), WAITS);
    assert.equal(await answeredReading(session), 0);
  });
});

/** Runs a cell of 500 sequential calls: how many of its waits were answered while its thread read. */
async function answeredReading(session: CodeCellSession): Promise<number> {
  const before = answeredReadingCount();
  const waited = await sequentialCalls(session, 500, '124750');
  assert.ok(waited >= 250, `${waited} of 500 results waited`);
  return answeredReadingCount() - before;
}

/** Runs a cell of `calls` sequential echo calls, checks it printed `sum`: how many results its waits took. */
async function sequentialCalls(session: CodeCellSession, calls: number, sum: string): Promise<number> {
  const before = waitedDeliveriesCount();
  const event = await run(
    session,
    `let sum = 0; for (let i = 0; i < ${calls}; i++) sum += (await tools.echo({ i })).i; text(sum)`,
  );
  assert.equal(event.kind, 'completed');
  assert.deepEqual(texts(event), [sum]);
  return waitedDeliveriesCount() - before;
}

async function waitForCalls(recording: RecordingDelegate, count: number): Promise<void> {
  while (recording.calls.length < count) await new Promise((resolve) => setTimeout(resolve, 5));
}
