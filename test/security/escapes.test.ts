// A catalogue of sandbox-escape attempts. Each runs as a cell and must leave the host untouched:
// a host-side canary object, `process`, and the host's prototypes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SessionRuntime, type CellEvent } from '../../src/index.js';
import { capturingLogger, RecordingDelegate, texts } from '../helpers.js';

const canary = { touched: false };
const host = globalThis as Record<string, unknown>;

/**
 * Defines probe(g): prints REACHED if g is (or leads to) anything of the host's. Then prints
 * PROBE_READY, which proves the attempt compiled and started (a syntax error fails the test).
 */
const PROBE = `const probe = (g) => { try {
  if (g !== null && (typeof g === 'object' || typeof g === 'function') &&
      (typeof g.process !== 'undefined' || typeof g.require !== 'undefined' || typeof g.Buffer !== 'undefined' || typeof g.__codecellCanary !== 'undefined')) {
    text('REACHED'); try { g.__codecellCanary.touched = true; g.process.env.CODECELL_CANARY = 'reached'; } catch {}
  }
} catch {} };
text('probe ready');
`;
const PROBE_READY = 'probe ready';

const delegate = new RecordingDelegate({
  echo: (call) => call.input ?? null,
  raw: (call) => call.input ?? null,
  polluted: () => JSON.parse('{"__proto__": {"pollutedByResult": true}, "ok": 1}') as never,
});
let runtime: SessionRuntime;

before(() => {
  host.__codecellCanary = canary;
  process.env.CODECELL_CANARY = 'intact';
  runtime = new SessionRuntime(delegate, {
    tools: [{ name: 'echo' }, { name: 'polluted' }, { name: 'raw', kind: 'freeform' }],
    logger: capturingLogger(),
  });
});

after(async () => {
  await runtime.shutdown();
  delete host.__codecellCanary;
});

function assertHostUntouched(event: CellEvent): void {
  assert.equal(canary.touched, false, 'the host canary was touched');
  assert.equal(process.env.CODECELL_CANARY, 'intact');
  for (const proto of [Object.prototype, Array.prototype, Function.prototype]) {
    for (const key of ['polluted', 'pollutedByResult', 'toJSON', 'x']) {
      assert.equal(Object.prototype.hasOwnProperty.call(proto, key), false, `host prototype gained ${key}`);
    }
  }
  assert.equal(typeof JSON.stringify, 'function');
  assert.ok(!texts(event).includes('REACHED'), `the cell reached the host: ${JSON.stringify(event)}`);
}

/** Runs an attempt; a cell still running after 3 s (a CPU loop) is terminated. */
async function attempt(source: string): Promise<CellEvent> {
  const { cellId, initialEvent } = await runtime.execute({ source: PROBE + source }, { kind: 'yieldAfter', ms: 3_000 });
  let event = await initialEvent;
  if (event.kind === 'yielded' || event.kind === 'pending') {
    const earlier = event.items;
    event = await runtime.terminate(cellId);
    event = { ...event, items: [...earlier, ...event.items] };
  }
  assertHostUntouched(event);
  assert.equal(texts(event)[0], PROBE_READY, `the attempt did not run: ${JSON.stringify(event)}`);
  return event;
}

const lines = (event: CellEvent): string[] => texts(event).filter((line) => line !== 'REACHED' && line !== PROBE_READY);

describe('constructor chains', () => {
  test('this.constructor.constructor (module this is undefined)', async () => {
    const event = await attempt(
      'try { probe(this.constructor.constructor("return this")()) } catch (e) { text(e.name) }',
    );
    assert.deepEqual(lines(event), ['TypeError']);
  });
  test('Function("return this")() is the isolate global', async () => {
    const event = await attempt('const g = Function("return this")(); probe(g); text(typeof g.text)');
    assert.deepEqual(lines(event), ['function']);
  });
  test('via an Error object', async () => {
    await attempt('probe(new Error("x").constructor.constructor("return this")())');
  });
  test('via a caught TypeError', async () => {
    await attempt('try { null.f() } catch (e) { probe(e.constructor.constructor("return this")()) }');
  });
  test('via the Promise constructor', async () => {
    await attempt('probe(Promise.constructor("return this")())');
  });
  test('via the async function constructor', async () => {
    await attempt('const AsyncFunction = (async () => {}).constructor; probe(await AsyncFunction("return this")())');
  });
  test('via the generator function constructor', async () => {
    await attempt('const Gen = (function* () {}).constructor; probe(Gen("yield this")().next().value)');
  });
  test('via arguments.callee.caller from a sloppy function', async () => {
    await attempt('probe(Function("try { return arguments.callee.caller } catch (e) { return null }")())');
  });
  test('eval and new Function reach only the isolate', async () => {
    const event = await attempt(
      'probe(eval("this")); probe(new Function("return globalThis")()); text(eval("typeof process"))',
    );
    assert.deepEqual(lines(event), ['undefined']);
  });
});

describe('stack traces', () => {
  test('Error.prepareStackTrace call sites expose no host function or receiver', async () => {
    const event = await attempt(`
      Error.prepareStackTrace = (_error, sites) => sites;
      let seen = 0;
      text({ toJSON() {
        const sites = new Error().stack;
        for (const site of sites) { seen++; probe(site.getThis()); probe(site.getFunction()); }
        return 1;
      } });
      text(seen > 0);`);
    assert.ok(lines(event).includes('true'));
  });
  test('Error.captureStackTrace on a tool callback path', async () => {
    await attempt(`
      Error.prepareStackTrace = (_error, sites) => sites.map((site) => { probe(site.getThis()); probe(site.getFunction()); return String(site); });
      const holder = {};
      await tools.echo({ get a() { Error.captureStackTrace(holder); holder.stack; return 1; } });`);
  });
  test('error stacks name no host file', async () => {
    const event = await attempt(
      'try { await tools.echo(1) } catch (e) { text(e.stack) } try { null.x } catch (e) { text(e.stack) }',
    );
    for (const line of lines(event)) assert.doesNotMatch(line, /\/work\/|node:internal|file:\/\//);
  });
});

describe('values crossing to the host', () => {
  test('a tool input with a __proto__ key arrives as plain data and pollutes nothing', async () => {
    await attempt('await tools.echo(JSON.parse(\'{"__proto__": {"polluted": true}}\'))');
    const input = delegate.calls.at(-1)?.input as Record<string, unknown>;
    assert.ok(Object.prototype.hasOwnProperty.call(input, '__proto__'));
    assert.equal(Object.getPrototypeOf(input), Object.prototype);
  });
  test('constructor.prototype keys in a tool input pollute nothing', async () => {
    await attempt('await tools.echo({ constructor: { prototype: { polluted: true } } })');
    const input = delegate.calls.at(-1)?.input as { constructor: unknown };
    assert.equal(Object.assign({}, input).constructor !== Object, true);
  });
  test('a tool result with a __proto__ key pollutes neither side', async () => {
    const event = await attempt(
      'const r = await tools.polluted(); text(Object.keys(r).join(",")); text(({}).pollutedByResult)',
    );
    assert.deepEqual(lines(event), ['__proto__,ok', 'undefined']);
  });
  test('getters on a tool input run in the isolate and arrive as values', async () => {
    await attempt('await tools.echo({ get x() { return 42 } })');
    const input = delegate.calls.at(-1)?.input as Record<string, unknown>;
    assert.equal(Object.getOwnPropertyDescriptor(input, 'x')?.value, 42);
  });
  test('a Proxy tool input arrives as plain data', async () => {
    await attempt(
      'await tools.echo(new Proxy({ a: 1 }, { get: (target, key) => (key === "toJSON" ? undefined : target[key]) }))',
    );
    assert.deepEqual(delegate.calls.at(-1)?.input, { a: 1 });
  });
  test('toJSON cannot smuggle a non-object into a function tool', async () => {
    const before = delegate.calls.length;
    const event = await attempt(
      'try { await tools.echo({ toJSON() { return "not an object" } }) } catch (e) { text(e.name + ": " + e.message) }',
    );
    assert.match(lines(event)[0] ?? '', /tools\.echo expects an object input/);
    assert.equal(delegate.calls.length, before);
  });
  test('Symbols and functions passed to tools are refused in the cell', async () => {
    const before = delegate.calls.length;
    const event = await attempt(
      'for (const bad of [Symbol("s"), { f: () => 1 }, { s: Symbol("t") }, { n: 1n }]) { try { await tools.echo(bad) } catch (e) { text(e.name) } }',
    );
    assert.deepEqual(lines(event), ['TypeError', 'TypeError', 'TypeError', 'TypeError']);
    assert.equal(delegate.calls.length, before);
  });
  test('a replaced JSON.stringify or Object.prototype.toJSON in the cell does not corrupt what the host receives', async () => {
    const event = await attempt(
      'JSON.stringify = () => "{"; await tools.raw("plain text"); Object.prototype.toJSON = function () { return "hacked" }; try { await tools.echo({ a: 1 }) } catch (e) { text(e.message) }',
    );
    assert.equal(delegate.calls.at(-1)?.input, 'plain text');
    assert.deepEqual(lines(event), ['tools.echo expects an object input']);
  });
  test('store() keeps only JSON: getters and proxies are flattened', async () => {
    await attempt('store("s", { get g() { return 1 }, p: new Proxy({ q: 2 }, {}) })');
    const event = await attempt(
      'const v = load("s"); text(JSON.stringify(v)); text(typeof Object.getOwnPropertyDescriptor(v, "g").get)',
    );
    assert.deepEqual(lines(event), ['{"g":1,"p":{"q":2}}', 'undefined']);
  });
});

describe('missing capabilities', () => {
  test('dynamic import() is refused', async () => {
    const event = await attempt('try { await import("node:fs") } catch (e) { text(e.message) }');
    assert.deepEqual(lines(event), ['Unsupported import in cell: node:fs']);
  });
  test('static import fails the cell', async () => {
    const { initialEvent } = await runtime.execute({
      source: 'import { readFileSync } from "node:fs";\ntext(readFileSync)',
    });
    const event = await initialEvent;
    assertHostUntouched(event);
    assert.match(event.kind === 'completed' ? (event.error ?? '') : '', /Unsupported import in cell: node:fs/);
  });
  test('WebAssembly, SharedArrayBuffer and Atomics are absent', async () => {
    const event = await attempt('text([typeof WebAssembly, typeof SharedArrayBuffer, typeof Atomics].join())');
    assert.deepEqual(lines(event), ['undefined,undefined,undefined']);
  });
  test('no host name or hidden hook is on the global object', async () => {
    const event = await attempt(
      'const names = Object.getOwnPropertyNames(globalThis); text(["process", "require", "Buffer", "ivm", "__codecell$", "module", "global"].filter((n) => names.includes(n)).join() || "none")',
    );
    assert.deepEqual(lines(event), ['none']);
  });
  test('the stand-in for import() only ever rejects', async () => {
    const event = await attempt('try { await $cc_im("x") } catch (e) { text(e.message) }');
    assert.deepEqual(lines(event), ['Unsupported import in cell: x']);
  });
  test('ALL_TOOLS and tools are frozen', async () => {
    const event = await attempt(
      'try { ALL_TOOLS.push(1) } catch (e) { text(e.name) } try { tools.echo = null } catch (e) { text(e.name) }',
    );
    assert.deepEqual(lines(event), ['TypeError', 'TypeError']);
  });
  test('what one cell does to its globals does not reach the next cell', async () => {
    await attempt('globalThis.text = null; Object.prototype.x = 1; Array.prototype.map = null');
    const event = await attempt('text(({}).x); text([1].map((n) => n + 1))');
    assert.deepEqual(lines(event), ['undefined', '[2]']);
  });
});

describe('resource abuse', () => {
  test('a flood of timers is refused past the bound', async () => {
    const event = await attempt(
      'let refused = 0; for (let i = 0; i < 20000; i++) { try { setTimeout(() => {}, 60000) } catch (e) { refused++ } } text(refused)',
    );
    assert.deepEqual(lines(event), ['10000']);
  });
  test('unbounded recursion is a RangeError inside the cell', async () => {
    const event = await attempt('function f() { return f() + 1 } try { f() } catch (e) { text(e.name) }\nf()');
    assert.deepEqual(lines(event), ['RangeError']);
    assert.match(event.kind === 'completed' ? (event.error ?? '') : '', /RangeError/);
  });
  test('while(true) inside toJSON during serialization is stopped by terminate', async () => {
    const event = await attempt('text("before"); await tools.echo({ toJSON() { while (true) {} } })');
    assert.equal(event.kind, 'terminated');
    assert.deepEqual(lines(event), ['before']);
  });
  test('a huge string crossing the boundary hits the output limit, not the host', async () => {
    const event = await attempt('text("x".repeat(50 * 1024 * 1024))');
    assert.equal(event.kind === 'terminated' && event.reason, 'outputLimit');
  });
  test('deeply nested values are refused in the cell or cross intact', async () => {
    const event = await attempt(`
      let deep = []; for (let i = 0; i < 100000; i++) deep = [deep];
      try { await tools.echo({ deep }) } catch (e) { text(e.name) }
      let moderate = 0; for (let i = 0; i < 2000; i++) moderate = { m: moderate };
      const back = await tools.echo({ moderate }); let depth = 0; for (let v = back.moderate; v !== 0; v = v.m) depth++; text(depth)`);
    assert.deepEqual(lines(event), ['TypeError', '2000']);
  });
  test('a tool input over the byte limit is refused before it reaches the delegate', async () => {
    const before = delegate.calls.length;
    const event = await attempt('try { await tools.raw("y".repeat(5 * 1024 * 1024)) } catch (e) { text(e.message) }');
    assert.match(lines(event)[0] ?? '', /over the maxToolInputBytes limit/);
    assert.equal(delegate.calls.length, before);
  });
});

describe('the catalogue itself', () => {
  test('an attempt that does not compile fails its test instead of passing unseen', async () => {
    await assert.rejects(attempt('probe(globalThis'), { name: 'AssertionError', message: /the attempt did not run/ });
  });
});
