// The code that runs inside every cell's isolate, before the cell.
//
// The host evaluates this file as the body of a closure and calls `installCodecellPrelude($0)`,
// where `$0` is the one host function the sandbox may call: a fire-and-forget channel that takes
// primitives only. No host object is ever stored where cell code can reach it: `send` lives in
// this closure, and everything the cell sees is a plain function defined here.

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

function installCodecellPrelude(send: HostSend) {
  // Captured before cell code runs, so a cell that replaces them only breaks itself.
  const stringifyJson = JSON.stringify;
  const parseJson = JSON.parse;
  const toText = String;
  const defineProperty = Object.defineProperty;
  const freeze = Object.freeze;
  const isArray = Array.isArray;
  const global = globalThis as Record<string, unknown>;

  const pendingCalls = new Map<string, PendingCall>();
  const timers = new Map<number, () => void>();
  let callSeq = 0;
  let timerSeq = 0;
  let exited = false;
  /**
   * Set when the module settled (or exit() ran): the cell is judged then, so a tool result or a
   * timer that arrives later never runs (a dangling call is reported once, and produces nothing).
   */
  let finished = false;
  let maxNotificationBytes = 0;

  for (const name of ['SharedArrayBuffer', 'Atomics', 'WebAssembly']) delete global[name];
  codecellGuardDynamicCode(global);
  // A rejection handled in a later task than the one it happened in is no error (SPEC §5).
  codecellObserveRejections((key) => send('handled', key));

  /** JSON text of a value, throwing on what JSON would silently drop or mangle. */
  function strictJson(value: unknown): string {
    const text = stringifyJson(value, (_key, item: unknown) => {
      const type = typeof item;
      if (type === 'function' || type === 'symbol' || type === 'bigint') {
        throw new TypeError(`a ${type} is not JSON-serializable`);
      }
      return item;
    });
    if (typeof text !== 'string') {
      throw new TypeError(`${value === undefined ? 'undefined' : typeof value} is not JSON-serializable`);
    }
    return text;
  }

  function safeString(value: unknown): string {
    try {
      return toText(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }

  /** The text() rule of SPEC §5: primitives via String(), everything else as JSON (if it can be). */
  function render(value: unknown): string {
    if (typeof value === 'string') return value;
    if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol'))
      return toText(value);
    try {
      const text = stringifyJson(value);
      if (typeof text === 'string') return text;
    } catch {
      // cyclic, BigInt inside, throwing toJSON: shown as console.log would (format.ts)
      return codecellInspect(value);
    }
    return safeString(value);
  }

  function describeError(error: unknown): string {
    if (error !== null && typeof error === 'object') {
      try {
        const stack = (error as { stack?: unknown }).stack;
        // The prelude's own frames say nothing to the cell's author.
        if (typeof stack === 'string' && stack !== '')
          return stack
            .split('\n')
            .filter((line) => !line.includes('codecell-prelude.js'))
            .join('\n');
      } catch {
        // a throwing getter: use the string form
      }
    }
    return safeString(error);
  }

  function text(value?: unknown): undefined {
    send('text', render(value));
    return undefined;
  }

  function image(urlOrItem: unknown, detail?: unknown): undefined {
    const { url, detail: chosen } = codecellImage(urlOrItem, detail);
    send('image', url, chosen);
    return undefined;
  }

  function notify(value?: unknown): undefined {
    const message = render(value);
    if (message.trim() === '') throw new TypeError('notify() needs a non-empty message');
    const bytes = utf8Length(message);
    if (bytes > maxNotificationBytes)
      throw new RangeError(
        `notify() message is ${bytes} bytes, over the maxNotificationBytes limit of ${maxNotificationBytes}`,
      );
    send('notify', message);
    return undefined;
  }

  function yield_control(): undefined {
    send('yield');
    return undefined;
  }

  function exit(): never {
    exited = true;
    finished = true;
    send('exit', unsettledCalls());
    // Unwind the cell; the host has already ended it and ignores anything that follows.
    throw new Error('exit() called');
  }

  function setTimeout(callback: unknown, ms?: unknown, ...args: unknown[]): number {
    if (typeof callback !== 'function') throw new TypeError('setTimeout() expects a function');
    if (timers.size >= MAX_PENDING_TIMERS) {
      throw new RangeError(`too many pending timers (at most ${MAX_PENDING_TIMERS})`);
    }
    const delay = typeof ms === 'number' && ms > 0 ? Math.min(ms, 2_147_483_647) : 0;
    const id = ++timerSeq;
    timers.set(id, () => callback(...args));
    send('timer', id, delay);
    return id;
  }

  function clearTimeout(id?: unknown): undefined {
    if (typeof id === 'number' && timers.delete(id)) send('clearTimer', id);
    return undefined;
  }

  function makeConsole() {
    const log = (...args: unknown[]): undefined => {
      send('text', codecellFormat(args));
      return undefined;
    };
    return freeze({ log, info: log, warn: log, error: log, debug: log });
  }

  function makeTool(tool: SandboxTool, index: number) {
    const invoke = (input?: unknown): Promise<unknown> => {
      let argument = input;
      if (tool.kind === 'freeform') {
        if (typeof argument !== 'string') {
          return Promise.reject(
            new TypeError(
              `tools.${tool.id} expects a string input, got ${argument === null ? 'null' : typeof argument}`,
            ),
          );
        }
      } else if (argument === undefined) {
        argument = {};
      } else if (argument === null || typeof argument !== 'object' || isArray(argument)) {
        return Promise.reject(
          new TypeError(
            `tools.${tool.id} expects an object input, got ${argument === null ? 'null' : isArray(argument) ? 'an array' : typeof argument}`,
          ),
        );
      }
      let json: string;
      try {
        json = strictJson(argument);
      } catch (error) {
        return Promise.reject(
          new TypeError(`tools.${tool.id} input is not JSON-serializable: ${describeMessage(error)}`),
        );
      }
      const callId = `tool-${++callSeq}`;
      return new Promise((resolve, reject) => {
        pendingCalls.set(callId, { resolve, reject });
        send('tool', callId, index, json);
      });
    };
    defineProperty(invoke, 'name', { value: tool.id });
    return invoke;
  }

  function describeMessage(error: unknown): string {
    return error instanceof Error ? error.message : safeString(error);
  }

  function defineGlobal(name: string, value: unknown): void {
    defineProperty(global, name, { value, writable: true, configurable: true, enumerable: false });
  }

  function configure(configText: string): void {
    const config = parseJson(configText) as SandboxConfig;
    maxNotificationBytes = config.limits.maxNotificationBytes;
    const tools: Record<string, unknown> = {};
    config.tools.forEach((tool, index) => {
      tools[tool.id] = makeTool(tool, index);
    });
    defineGlobal('tools', freeze(tools));
    defineGlobal(
      'ALL_TOOLS',
      freeze(config.tools.map((tool) => freeze({ name: tool.id, description: tool.description }))),
    );
    defineGlobal('text', text);
    defineGlobal('image', image);
    defineGlobal('notify', notify);
    defineGlobal('yield_control', yield_control);
    defineGlobal('exit', exit);
    defineGlobal('setTimeout', setTimeout);
    defineGlobal('clearTimeout', clearTimeout);
    defineGlobal('console', makeConsole());
    // Stands in for `import(` (same length, see src/source.ts).
    defineGlobal('$cc_im', (specifier: unknown): Promise<never> =>
      Promise.reject(new Error(`Unsupported import in cell: ${render(specifier)}`)),
    );

    if (config.stored !== null) {
      const stored = codecellStoredValues(
        config.stored,
        config.storedBytes,
        config.limits.maxStoredBytes,
        strictJson,
        parseJson,
        describeMessage,
        (key, json) => send('store', key, json),
      );
      defineGlobal('store', stored.store);
      defineGlobal('load', stored.load);
    }
  }

  function settle(callId: string, ok: boolean, payload: string, errorKind: string): void {
    const call = pendingCalls.get(callId);
    if (call === undefined || finished) return;
    pendingCalls.delete(callId);
    if (ok) {
      call.resolve(payload === '' ? undefined : parseJson(payload));
    } else {
      call.reject(
        errorKind === 'TypeError'
          ? new TypeError(payload)
          : errorKind === 'RangeError'
            ? new RangeError(payload)
            : new Error(payload),
      );
    }
  }

  function fireTimer(id: number): void {
    const callback = timers.get(id);
    if (callback === undefined || finished) return;
    timers.delete(id);
    try {
      callback();
    } catch (error) {
      if (!exited) send('fault', describeError(error), unsettledCalls());
    }
  }

  // Taken (and deleted) by the first line of the wrapped cell; see src/isolate/cell-isolate.ts.
  defineGlobal(
    '__codecell$',
    freeze({
      done: (): void => {
        finished = true;
        send('done', unsettledCalls());
      },
      fail: (error: unknown): void => {
        finished = true;
        send('fault', describeError(error), unsettledCalls());
      },
    }),
  );

  /** The one entry point the host calls into; every call is one isolate task. */
  function receive(...message: ToSandboxMessage): void {
    if (message[0] === 'settle') settle(message[1], message[2], message[3], message[4]);
    else if (message[0] === 'timer') fireTimer(message[1]);
    else if (message[0] === 'configure') configure(message[1]);
    else message satisfies never; // a TO_SANDBOX row without a branch here does not compile
  }

  /** The tool calls whose outcome the cell has not received, as "tool-1,tool-2". */
  function unsettledCalls(): string {
    return [...pendingCalls.keys()].join(',');
  }

  return { receive };
}
