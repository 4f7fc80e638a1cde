// The code that runs inside every cell's isolate, before the cell.
//
// The host evaluates this file as the body of a closure and calls `installCodecellPrelude($0)`
// (which returns the sandbox's one entry point, `receive`),
// where `$0` is the one host function the sandbox may call: a fire-and-forget channel that takes
// primitives only; `$1` (ask) and `$3`'s first word (words the host writes for every sandbox:
// src/isolate/host-words.ts; this one counts the turns of its event loop) only make the sandbox
// wait for that loop to turn (see codecellPaced); `$2` (the box, memory the host shares, or null)
// is where the host answers the sandbox's wait after a tool call (waits.ts). No host object is
// ever stored where cell code can reach it: all of them live in this closure, and everything the
// cell sees is a plain function defined here.

// The message kinds both ways (src/isolate/sandbox-protocol.ts, types only; built before this file).
type HostSend = import('../dist/src/isolate/sandbox-protocol.js').HostSend;
type ToSandboxMessage = import('../dist/src/isolate/sandbox-protocol.js').ToSandboxMessage;

interface SandboxTool {
  readonly id: string;
  readonly description: string;
  readonly kind: 'function' | 'freeform';
}

interface SandboxConfig {
  readonly tools: readonly SandboxTool[];
  /** Stored values as JSON texts, or null when stored values are disabled. */
  readonly stored: Record<string, string> | null;
  /** UTF-8 bytes of the stored keys and values (as the host counts them). */
  readonly storedBytes: number;
  readonly limits: { readonly maxNotificationBytes: number; readonly maxStoredBytes: number };
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

const MAX_PENDING_TIMERS = 10_000;

/** The host's `ask` (an isolated-vm Reference): the counter moves once the host's event loop turned. */
interface HostAskTurn {
  applyIgnored(receiver: undefined, args: []): unknown;
}

// The host's words (src/isolate/host-words.ts): the turns of its event loop; whether few enough
// cells are in use that a wait may read its box before it sleeps (waits.ts); the messages every
// sandbox sent, and their count when the loop last turned (codecellPaced).
const CODECELL_HOST_TURNS = 0;
const CODECELL_HOST_SPIN = 1;
const CODECELL_HOST_SENT = 2;
const CODECELL_HOST_SENT_AT_TURN = 3;

/** How long the sandbox sleeps at most for a turn the host does not count (it let the cell go). */
const CODECELL_PACE_WAIT_MS = 250;
// Taken before the cell's global loses Atomics (installCodecellPrelude).
const codecellAtomicsLoad = Atomics.load;
const codecellAtomicsWait = Atomics.wait;
const codecellAtomicsAdd = Atomics.add;

/**
 * The process's messages (every sandbox's) between two turns of the host's event loop before a
 * sandbox that sends waits for one (codecellPaced): far under the 1 000 messages of one run after
 * which the host's FloodGuard looks at the clock.
 */
const CODECELL_PACE_EVERY = 256;

/**
 * `send`, waiting for the host's event loop to turn once the process's sandboxes sent
 * CODECELL_PACE_EVERY messages since it last did. The host takes the sandboxes' messages in one
 * loop until none is left: a cell that sends without pause (200 000 text() calls), or many cells
 * whose tools answer at once, would hold that loop, starving timers and other sessions, and a
 * lone sender would be ended as a flood at a point set by the machine's speed. Paced, each waits
 * its turn instead (about 1 % of its time), and what it sent is judged by its limits alone.
 */
function codecellPaced(send: HostSend, ask: HostAskTurn, words: Int32Array): HostSend {
  return (...message) => {
    codecellApply(send, undefined, message); // not a spread: a cell may replace Array's iterator
    const sent = codecellAtomicsAdd(words, CODECELL_HOST_SENT, 1) + 1;
    if (((sent - codecellAtomicsLoad(words, CODECELL_HOST_SENT_AT_TURN)) | 0) < CODECELL_PACE_EVERY) return;
    // The count first: a turn counted between the ask and the sleep ends the sleep at once.
    const seen = codecellAtomicsLoad(words, CODECELL_HOST_TURNS);
    try {
      ask.applyIgnored(undefined, []);
      codecellAtomicsWait(words, CODECELL_HOST_TURNS, seen, CODECELL_PACE_WAIT_MS);
    } catch {
      // The host let the isolate go (the cell ended): nothing is waited for.
    }
  };
}

/** What the prelude's functions share for one cell. */
interface PreludeState {
  /** The host function, or (while clock readings wait) one that sends them first: see journal.ts. */
  send: HostSend;
  readonly global: Record<string, unknown>;
  readonly pendingCalls: Map<string, PendingCall>;
  readonly timers: Map<number, () => void>;
  callSeq: number;
  timerSeq: number;
  exited: boolean;
  /**
   * Set when the module settled (or exit() ran): the cell is judged then, so a tool result or a
   * timer that arrives later never runs (a dangling call is reported once, and produces nothing).
   */
  finished: boolean;
  maxNotificationBytes: number;
  /** Asks for the wait for the host before a tool call is sent (waits.ts). */
  beforeCall: () => void;
  /** The asks that took a delivery in the run the journal records (waits.ts). */
  heldAsks: readonly number[];
}

// Captured before cell code runs, so a cell that replaces them only breaks itself.
const codecellDefineProperty = Object.defineProperty;
const codecellFreeze = Object.freeze;
const codecellIsArray = Array.isArray;
const codecellApply = Reflect.apply;

function installCodecellPrelude(
  hostSend: HostSend,
  ask: HostAskTurn,
  box: SharedArrayBuffer | null,
  hostWordsBuffer: SharedArrayBuffer,
) {
  const hostWords = new Int32Array(hostWordsBuffer);
  const state: PreludeState = {
    send: codecellPaced(hostSend, ask, hostWords),
    global: globalThis as Record<string, unknown>,
    pendingCalls: new Map(),
    timers: new Map(),
    callSeq: 0,
    timerSeq: 0,
    exited: false,
    finished: false,
    maxNotificationBytes: 0,
    beforeCall: () => {},
    heldAsks: [],
  };
  for (const name of ['SharedArrayBuffer', 'Atomics', 'WebAssembly']) delete state.global[name];
  codecellGuardDynamicCode(state.global);
  // A rejection handled in a later task than the one it happened in is no error (SPEC §5).
  const watchRejections = codecellObserveRejections((key) => state.send('handled', key));
  // Taken (and deleted) by the first line of the wrapped cell; see src/isolate/cell-isolate.ts.
  defineCellGlobal(
    state,
    '__codecell$',
    codecellFreeze({
      done: (): void => {
        state.finished = true;
        state.send('done', unsettledCalls(state));
      },
      fail: (error: unknown, calledAt?: number): void => {
        state.finished = true;
        state.send('fault', codecellDescribeError(error, calledAt), unsettledCalls(state));
      },
      // A top-level `return value`: the value is the cell's result, a text item with its JSON.
      returned: (value: unknown): void => {
        if (value !== undefined) state.send('returned', codecellReturnedText(value), codecellJsonOrNone(value));
      },
    }),
  );

  /** The one entry point the host calls into; every call is one isolate task. */
  function receive(...message: ToSandboxMessage): void {
    if (message[0] === 'settle') settle(state, message[1], message[2], message[3], message[4]);
    else if (message[0] === 'timer') fireTimer(state, message[1]);
    else if (message[0] === 'configure') configure(state, message[1], message[2], message[3]);
    else if (message[0] === 'watchRejections') watchRejections();
    else message satisfies never; // a TO_SANDBOX row without a branch here does not compile
  }
  state.beforeCall = codecellDeferredWaits(box, hostWords, {
    settle: (callId, ok, payload, errorKind) => settle(state, callId, ok, payload, errorKind),
    timer: (id) => fireTimer(state, id),
    watchRejections,
    heldAsks: () => state.heldAsks,
  });
  return receive;
}

function defineCellGlobal(state: PreludeState, name: string, value: unknown): void {
  codecellDefineProperty(state.global, name, { value, writable: true, configurable: true, enumerable: false });
}

/**
 * Defines the cell's globals from the host's configuration (tools, stored values, limits), and
 * its journal's clock and random numbers when it has one.
 */
function configure(state: PreludeState, configText: string, journalText: string, waits: boolean): void {
  // A cell whose journal leaves this process (a store, a host's client) or that runs on an engine
  // never waits: a result ready at the wait enters before the microtasks queued after its call,
  // one that is not enters as a task after them, and a run again elsewhere would not know which
  // way each went (ADR 23).
  if (!waits) state.beforeCall = () => {};
  const config = codecellParseJson(configText) as SandboxConfig;
  state.maxNotificationBytes = config.limits.maxNotificationBytes;
  const tools: Record<string, unknown> = {};
  config.tools.forEach((tool, index) => {
    tools[tool.id] = makeTool(state, tool, index);
  });
  defineCellGlobal(state, 'tools', codecellFreeze(tools));
  const all = config.tools.map((tool) => codecellFreeze({ name: tool.id, description: tool.description }));
  defineCellGlobal(state, 'ALL_TOOLS', codecellFreeze(all));
  for (const [name, value] of Object.entries(outputGlobals(state))) defineCellGlobal(state, name, value);
  // Stands in for `import(` (same length, see src/source.ts).
  defineCellGlobal(state, '$cc_im', (specifier: unknown): Promise<never> =>
    Promise.reject(new Error(`Unsupported import in cell: ${codecellRender(specifier)}`)),
  );
  if (config.stored !== null) {
    const stored = codecellStoredValues(
      config.stored,
      config.storedBytes,
      config.limits.maxStoredBytes,
      codecellStrictJson,
      codecellParseJson,
      codecellDescribeMessage,
      (key, json) => state.send('store', key, json),
    );
    defineCellGlobal(state, 'store', stored.store);
    defineCellGlobal(state, 'load', stored.load);
  }
  if (journalText === '') return;
  const journal = codecellParseJson(journalText) as SandboxJournalConfig;
  if (journal.asks !== undefined) state.heldAsks = journal.asks;
  const hostSend = state.send;
  // While readings wait, the cell's next message sends them first, then itself.
  const flushing: HostSend = (...message) => {
    state.send = hostSend;
    flush();
    hostSend(...message);
  };
  const flush = codecellInstallJournal(
    state.global,
    journal,
    (values) => hostSend('clock', values),
    () => (state.send = flushing),
  );
}

/** text, image, notify, yield_control, exit, the timers and console (SPEC §5). */
function outputGlobals(state: PreludeState): Record<string, unknown> {
  const log = (...args: unknown[]): undefined => {
    state.send('text', codecellFormat(args));
    return undefined;
  };
  return {
    text(value?: unknown): undefined {
      state.send('text', codecellRender(value));
      return undefined;
    },
    image(urlOrItem: unknown, detail?: unknown): undefined {
      const { url, detail: chosen } = codecellImage(urlOrItem, detail);
      state.send('image', url, chosen);
      return undefined;
    },
    notify: (value?: unknown): undefined => notify(state, value),
    yield_control(): undefined {
      state.send('yield');
      return undefined;
    },
    exit(): never {
      state.exited = true;
      state.finished = true;
      state.send('exit', unsettledCalls(state));
      // Unwind the cell; the host has already ended it and ignores anything that follows.
      throw new Error('exit() called');
    },
    setTimeout: (callback: unknown, ms?: unknown, ...args: unknown[]): number => setTimer(state, callback, ms, args),
    clearTimeout(id?: unknown): undefined {
      if (typeof id === 'number' && state.timers.delete(id)) state.send('clearTimer', id);
      return undefined;
    },
    console: codecellFreeze({ log, info: log, warn: log, error: log, debug: log }),
  };
}

function notify(state: PreludeState, value: unknown): undefined {
  const message = codecellRender(value);
  if (message.trim() === '') throw new TypeError('notify() needs a non-empty message');
  const bytes = utf8Length(message);
  if (bytes > state.maxNotificationBytes)
    throw new RangeError(
      `notify() message is ${bytes} bytes, over the maxNotificationBytes limit of ${state.maxNotificationBytes}`,
    );
  state.send('notify', message);
  return undefined;
}

function setTimer(state: PreludeState, callback: unknown, ms: unknown, args: unknown[]): number {
  if (typeof callback !== 'function') throw new TypeError('setTimeout() expects a function');
  if (state.timers.size >= MAX_PENDING_TIMERS) {
    throw new RangeError(`too many pending timers (at most ${MAX_PENDING_TIMERS})`);
  }
  const delay = typeof ms === 'number' && ms > 0 ? Math.min(ms, 2_147_483_647) : 0;
  const id = ++state.timerSeq;
  state.timers.set(id, () => callback(...args));
  state.send('timer', id, delay);
  return id;
}

/** tools.<id>: checks the input as the tool's kind requires, then asks the host. */
function makeTool(state: PreludeState, tool: SandboxTool, index: number) {
  const invoke = (input?: unknown): Promise<unknown> => {
    let json: string;
    try {
      json = toolInputJson(tool, input);
    } catch (error) {
      return Promise.reject(error);
    }
    const callId = `tool-${++state.callSeq}`;
    return new Promise((resolve, reject) => {
      state.pendingCalls.set(callId, { resolve, reject });
      state.beforeCall();
      state.send('tool', callId, index, json);
    });
  };
  codecellDefineProperty(invoke, 'name', { value: tool.id });
  return invoke;
}

/** The JSON text a tool call sends, or a TypeError that says what is wrong with the input. */
function toolInputJson(tool: SandboxTool, input: unknown): string {
  let argument = input;
  if (tool.kind === 'freeform') {
    if (typeof argument !== 'string') {
      throw new TypeError(
        `tools.${tool.id} expects a string input, got ${argument === null ? 'null' : typeof argument}`,
      );
    }
  } else if (argument === undefined) {
    argument = {};
  } else if (argument === null || typeof argument !== 'object' || codecellIsArray(argument)) {
    const got = argument === null ? 'null' : codecellIsArray(argument) ? 'an array' : typeof argument;
    throw new TypeError(`tools.${tool.id} expects an object input, got ${got}`);
  }
  try {
    return codecellStrictJson(argument);
  } catch (error) {
    throw new TypeError(`tools.${tool.id} input is not JSON-serializable: ${codecellDescribeMessage(error)}`);
  }
}

function settle(state: PreludeState, callId: string, ok: boolean, payload: string, errorKind: string): void {
  const call = state.pendingCalls.get(callId);
  if (call === undefined || state.finished) return;
  state.pendingCalls.delete(callId);
  if (ok) call.resolve(payload === '' ? undefined : codecellParseJson(payload));
  else if (errorKind === 'TypeError') call.reject(new TypeError(payload));
  else if (errorKind === 'RangeError') call.reject(new RangeError(payload));
  else call.reject(new Error(payload));
}

function fireTimer(state: PreludeState, id: number): void {
  const callback = state.timers.get(id);
  if (callback === undefined || state.finished) return;
  state.timers.delete(id);
  try {
    callback();
  } catch (error) {
    if (!state.exited) state.send('fault', codecellDescribeError(error), unsettledCalls(state));
  }
}

/** The tool calls whose outcome the cell has not received, as "tool-1,tool-2". */
function unsettledCalls(state: PreludeState): string {
  return [...state.pendingCalls.keys()].join(',');
}
