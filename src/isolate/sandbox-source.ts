// The code a cell's isolate runs around the cell: the sandbox's files (one closure body: the
// helpers of format, inspect, image, stored, dynamic-code, rejections and values first, then
// prelude.js) and the one-line wrapper of the cell's module.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type IsolatedVm from 'isolated-vm-6';
import { armTurn, hostWords } from './host-words.js';
import { loadIsolatedVm, type Ivm } from './load.js';
import { countDisposed, holdForTeardown } from './teardown.js';
import type { SandboxReceive } from './sandbox-protocol.js';

const SANDBOX_FILES = [
  'format.js',
  'inspect.js',
  'image.js',
  'stored.js',
  'dynamic-code.js',
  'rejections.js',
  'values.js',
  'journal.js',
  'waits.js',
  'prelude.js',
];
/** The prelude's source, read and wrapped once per process (see preludeFunction). */
let preludeSource: string | undefined;

/**
 * V8's code cache for the prelude: first as compiled by the first isolate (its top level only),
 * then as compiled by the warm-up (see warmUp), with the functions a cell commonly runs.
 */
let preludeCache: IsolatedVm.ExternalCopy<ArrayBuffer> | undefined;
/** The warm-up, started by the first isolate that installs the prelude (once per process). */
let warming: Promise<void> | undefined;
/** The sizes of the first code cache and of the one in use (bytes), for preludeWarmed(). */
const cacheBytes = { first: 0, now: 0 };

function useCache(cache: IsolatedVm.ExternalCopy<ArrayBuffer>): void {
  preludeCache = cache;
  cacheBytes.now = cache.copy().byteLength;
  if (cacheBytes.first === 0) cacheBytes.first = cacheBytes.now;
}

const PRELUDE_FILENAME = 'codecell-prelude.js';

/**
 * The function the isolate runs first; `$0` is the host function it may call. Built once: every
 * cell's isolate compiles it, and a new ~28 KB string each time would be flattened again.
 */
function preludeFunction(): string {
  if (preludeSource === undefined) {
    const files = SANDBOX_FILES.map((file) => readFileSync(new URL(`../../sandbox/${file}`, import.meta.url), 'utf8'));
    preludeSource = `(function ($0, $1, $2, $3) {\n${files.join('\n')}\nreturn installCodecellPrelude($0, $1, $2, $3);\n})`;
  }
  return preludeSource;
}

/**
 * The sandboxes' pace (see sandbox/prelude.ts, codecellPaced): once the process's sandboxes sent
 * so many messages since the event loop last turned, each that sends asks the host for a turn and
 * sleeps (Atomics.wait) on hostWords' TURNS until the host counts one (armTurn). isolated-vm
 * hands the sandboxes' messages to the main thread in one loop until none is left, so cells
 * sending without pause would otherwise hold that loop (timers, limits, the disposal of ended
 * cells' isolates, other sessions) as long as they send: one cell of 200 000 text() calls, or a
 * hundred sessions whose tools answer at once. Not a wait on a promise (applySyncPromise): isolated-vm wakes such a
 * thread after letting go of its lock, and a thread still on its way to sleep may destroy what it
 * is woken by in between (ADR 23), which a busy machine turned into a crash. One count for the
 * process: every isolate shares its memory.
 */
let askTurn: IsolatedVm.Reference<() => void> | undefined;
let wordsCopy: IsolatedVm.ExternalCopy<SharedArrayBuffer> | undefined;

/**
 * Installs the prelude in a fresh context and returns the sandbox's entry point (`receive`). The
 * prelude is compiled from V8's code cache once one exists.
 * @internal
 */
export function installPrelude(
  isolate: IsolatedVm.Isolate,
  context: IsolatedVm.Context,
  send: IsolatedVm.Callback,
  box: SharedArrayBuffer | null,
): IsolatedVm.Reference<SandboxReceive> {
  askTurn ??= new (loadIsolatedVm().Reference)(armTurn);
  wordsCopy ??= new (loadIsolatedVm().ExternalCopy)(hostWords.buffer as SharedArrayBuffer);
  // A failed warm-up leaves the first cache (warmUp reports nothing: cells run either way).
  warming ??= new Promise((resolve) => setImmediate(resolve)).then(warmUp).catch(() => {});
  // Synchronous, as the rest of a fresh isolate's set-up (see CellIsolate.create).
  const script: IsolatedVm.Script & IsolatedVm.CachedDataResult = isolate.compileScriptSync(preludeFunction(), {
    filename: PRELUDE_FILENAME,
    ...(preludeCache === undefined ? { produceCachedData: true } : { cachedData: preludeCache }),
  });
  if (preludeCache === undefined && script.cachedData !== undefined) useCache(script.cachedData);
  const install = script.runSync(context, { reference: true }) as IsolatedVm.Reference<
    (send: IsolatedVm.Callback, ask: IsolatedVm.Reference<() => void>, box: unknown, words: unknown) => unknown
  >;
  script.release();
  const shared = box === null ? null : new (loadIsolatedVm().ExternalCopy)(box).copyInto({ release: true });
  const receive = install.applySync(undefined, [send, askTurn, shared, wordsCopy.copyInto()], {
    result: { reference: true },
  });
  install.release();
  return receive as IsolatedVm.Reference<SandboxReceive>;
}

/**
 * Resolves once the warm-up (if one started) has ended and its isolate is disposed; the sizes of
 * the prelude's first code cache and of the one cells start from now (bytes). @internal
 */
export async function preludeWarmed(): Promise<{ first: number; now: number }> {
  await warming;
  return { ...cacheBytes };
}

/** What the warm-up cell does: the paths most cells take (tools, output, errors, a timer). */
const WARM_UP_CELL = `const result = await tools.warm({ n: 1 });
text(result.n); text({ result }); console.log('warm', [result], { up: true }); notify('warm');
try { await tools.warm({ fail: 1 }) } catch (error) { text(String(error)) }
await new Promise((resolve) => setTimeout(resolve, 0));
text(Date.now() > Math.random());`;
// Stored values enabled, as sessions have them by default: their set-up is compiled in the cache.
const WARM_UP_CONFIG = JSON.stringify({
  tools: [{ id: 'warm', kind: 'function', description: '' }],
  stored: {},
  storedBytes: 0,
  limits: { maxNotificationBytes: 1024, maxStoredBytes: 1024 },
});
const WARM_UP_JOURNAL = JSON.stringify({ seed: 1, clock: [] });

/**
 * Runs codecell's own warm-up cell (never a user's) in a throwaway isolate, then makes the
 * prelude's code cache from it. V8 compiles a function when it first runs, and a code cache
 * made at compile time holds only the top level: without this, every cell's isolate compiled
 * again each prelude function its cell ran (~0.6 ms of CPU per cell). Compiled again in the
 * isolate that ran the warm-up, the prelude comes from V8's compilation cache with those
 * functions compiled, and its code cache holds them.
 */
async function warmUp(): Promise<void> {
  const ivm = loadIsolatedVm();
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  try {
    const context = await isolate.createContext();
    await runWarmUpCell(ivm, isolate, context);
    const warm: IsolatedVm.Script & IsolatedVm.CachedDataResult = await isolate.compileScript(preludeFunction(), {
      filename: PRELUDE_FILENAME,
      produceCachedData: true,
    });
    if (warm.cachedData !== undefined) useCache(warm.cachedData);
  } finally {
    if (!isolate.isDisposed) isolate.dispose();
    countDisposed(false);
    holdForTeardown();
  }
}

/** Runs WARM_UP_CELL in `context`, answering its tool calls and timers, until it ends. */
async function runWarmUpCell(ivm: Ivm, isolate: IsolatedVm.Isolate, context: IsolatedVm.Context): Promise<void> {
  let receive: IsolatedVm.Reference<SandboxReceive> | undefined;
  let ended = (): void => {};
  const end = new Promise<void>((resolve) => (ended = resolve));
  const answer = (kind: unknown, id: unknown, _index: unknown, input: unknown): void => {
    if (kind === 'tool' && typeof input === 'string')
      receive?.applyIgnored(undefined, ['settle', String(id), !input.includes('fail'), input, '']);
    else if (kind === 'timer') receive?.applyIgnored(undefined, ['timer', Number(id)]);
    else if (kind === 'done' || kind === 'fault') ended();
  };
  // No box: its sandbox never waits (its deliveries enter as tasks), so its thread never sleeps
  // while this process may be exiting.
  receive = installPrelude(isolate, context, new ivm.Callback(answer, { ignored: true }), null);
  await receive.apply(undefined, ['configure', WARM_UP_CONFIG, WARM_UP_JOURNAL, true]);
  const module = await isolate.compileModule(wrapCell(WARM_UP_CELL), { filename: 'codecell-warm-up.js' });
  await module.instantiate(context, refuseImport);
  await module.evaluate();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([end, new Promise((resolve) => (timer = setTimeout(resolve, WARM_UP_WAIT_MS)))]);
  clearTimeout(timer);
}

/** How long the warm-up cell may take (it takes ~1 ms). */
const WARM_UP_WAIT_MS = 1_000;

/** How a cell's module resolves a static import: it does not (the cell fails with this error). */
export const refuseImport = (specifier: string): never => {
  throw new Error(`Unsupported import in cell: ${specifier}`);
};

/**
 * The cell runs inside a try block of its module, so its outcome (including a rejection after a
 * top-level await) reaches the sandbox's `done`/`fail` from inside the isolate, in order with its
 * output. The prefix is one line, hidden from stack traces by `lineOffset: -1`. The hook is taken
 * off the global object before the cell runs, under a name made for this cell alone.
 */
export function wrapCell(source: string, returns = false): string {
  const hook = `__cc${randomUUID().replaceAll('-', '')}`;
  const start = `const ${hook} = globalThis.__codecell$; delete globalThis.__codecell$; try `;
  if (!returns) return `${start}{\n${source}\n} catch (error) { ${hook}.fail(error); } ${hook}.done();`;
  // A cell that returns at its top level runs as the body of an async function; what it returns
  // is its result. Only a source that fails to compile as a module because of that is so run. Its
  // error's stack leaves out the frame of the line that calls it (the one after the source).
  const calledAt = source.split('\n').length + 1;
  return (
    `${start}{ ${hook}.returned(await (async () => {\n${source}\n})()); }` +
    ` catch (error) { ${hook}.fail(error, ${calledAt}); } ${hook}.done();`
  );
}

/** True for the compile error of a module that returns at its top level. */
export const returnsAtTopLevel = (description: string): boolean =>
  description.startsWith('SyntaxError: Illegal return statement');
