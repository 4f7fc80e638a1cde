// One cell's isolate: the prelude, the task bookkeeping that tells when the isolate is idle, and
// the translation of isolated-vm's failures into CodeCellError codes.
import type IsolatedVm from 'isolated-vm-6';
import type { CodeCellErrorCode } from '../errors.js';
import { describeCellError, explainCompileError, translateIsolateError } from './errors.js';
import { loadIsolatedVm } from './load.js';
import { installPrelude, refuseImport, returnsAtTopLevel, wrapCell } from './sandbox-source.js';
import { FloodGuard } from './flood-guard.js';
import { newWaitBox, SandboxWaits } from './sandbox-waits.js';
import { GateSeat, type RunGate } from './run-gate.js';
import { stageClock, stageDone } from './stages.js';
import { IsolateTasks } from './tasks.js';
import { countClaimed, countDisposed, releaseAndDispose, unwindingThread } from './teardown.js';
import {
  decodeSandboxMessage,
  type SandboxReceive,
  type ToHostMessage,
  type ToSandboxMessage,
} from './sandbox-protocol.js';

// Namespaces for the types (the value is loaded at first use, see loadIsolatedVm).
declare namespace ivm {
  type Isolate = IsolatedVm.Isolate;
  type Context = IsolatedVm.Context;
  type Module = IsolatedVm.Module;
  type Reference<T> = IsolatedVm.Reference<T>;
}

/** What a cell uses of its isolate (a paused cell restored from a snapshot has none: NO_ISOLATE). */
export type CellRunIsolate = Pick<
  CellIsolate,
  | 'listen'
  | 'deliver'
  | 'deliverTo'
  | 'asking'
  | 'replaying'
  | 'dispose'
  | 'stop'
  | 'stopped'
  | 'isIdle'
  | 'cpuTimeMs'
  | 'drain'
  | 'start'
>;

/** The isolate of a cell that has none now (paused): nothing runs, nothing is delivered. */
export const NO_ISOLATE: CellRunIsolate = {
  listen: () => {},
  deliver: () => 0,
  deliverTo: () => {},
  asking: () => false,
  replaying: () => {},
  dispose: () => {},
  stop: () => {},
  stopped: Promise.resolve(),
  isIdle: false,
  cpuTimeMs: 0,
  drain: () => Promise.resolve(false),
  start: () => Promise.reject(new Error('codecell: a paused cell has no isolate to start')),
};

/** Hears the sandbox's messages that decoded (see decodeSandboxMessage). */
export type SandboxListener = (message: ToHostMessage) => void;

/**
 * A cell's listeners (see CellIsolate.listen). `rejection`: a task ended with a rejection the cell
 * had not handled (isolated-vm's copy of its reason); `fromModule` when that task was the module's
 * own evaluation.
 */
export type CellIsolateListeners = {
  message: SandboxListener;
  idle(): void;
  fault(code: CodeCellErrorCode): void;
  flood(): void;
  rejection(reason: unknown, fromModule: boolean): void;
};

export type CellIsolateOptions = { memoryMb: number };

/** How long one cell's messages may hold Node's main thread without the event loop turning. */
const FLOOD_MS = 1_000;

/** How long a stopped isolate's thread is waited for before it is given up on. */
const STOP_WAIT_MS = 1_000;
const RESOLVED = Promise.resolve();

/**
 * One cell's isolate. Every entry into the isolate is a tracked task; when the last one ends and
 * the module has not settled, the isolate is idle: it waits only on tool calls or timers.
 */
export class CellIsolate {
  readonly #isolate: ivm.Isolate;
  readonly #context: ivm.Context;
  /** The cell's module, once compiled (released with the isolate). */
  #module: ivm.Module | undefined;
  readonly #receive: ivm.Reference<SandboxReceive>;
  #listener: SandboxListener = () => {};
  #idleListener: () => void = () => {};
  #faultListener: (code: CodeCellErrorCode) => void = () => {};
  #rejectionListener: (reason: unknown, fromModule: boolean) => void = () => {};
  readonly #flood = new FloodGuard(FLOOD_MS);
  #catastrophicListener: (message: string) => void = () => {};
  #claimed = false;
  /** Gives back what the isolate reserved of its pool's memory budget (when it is disposed). */
  #release: (() => void) | undefined;
  #disposing = false;
  #running = false;
  #stopped = false;
  /** Tasks inside the isolate; after dispose they settle once its thread has unwound. */
  readonly #tasks = new IsolateTasks(() => {
    if (this.#tasks.busy === 0) this.#seat.idle();
    if (this.isIdle) this.#idleListener();
  });
  /** Its session's share of the CPU (RunGate): tasks enter the isolate through it. */
  #seat = new GateSeat();
  /** The module's first task runs: what it leaves unhandled is the module's (no delivery joins it). */
  #evaluating = false;
  /** The sandbox's wait (ADR 23), answered in the memory both share. */
  readonly #waits: SandboxWaits;

  private constructor(
    isolate: ivm.Isolate,
    context: ivm.Context,
    receive: ivm.Reference<SandboxReceive>,
    box: SharedArrayBuffer,
  ) {
    this.#isolate = isolate;
    this.#context = context;
    this.#receive = receive;
    this.#waits = new SandboxWaits(
      box,
      () => !this.#evaluating && this.#tasks.busy <= 1 && !this.#seat.waiting && !this.isDisposed,
    );
  }

  static async create(options: CellIsolateOptions): Promise<CellIsolate> {
    const ivm = loadIsolatedVm();
    let self: CellIsolate | undefined;
    let clock = stageClock();
    const isolate = new ivm.Isolate({
      memoryLimit: options.memoryMb,
      onCatastrophicError: (message: string) => {
        if (self !== undefined) self.#catastrophe(message);
      },
    });
    clock = stageDone('isolate', clock);
    try {
      // Synchronous: a fresh isolate runs only codecell's own code until the cell starts, and a
      // trip to the isolate's thread and back costs more than the step itself (ADR 10).
      const context = isolate.createContextSync();
      clock = stageDone('context', clock);
      const send = new ivm.Callback(
        (...args: unknown[]) => {
          if (self === undefined || self.#flood.flooding()) return;
          const message = decodeSandboxMessage(args);
          if (message === undefined) return;
          if (message[0] === 'tool') self.#waits.callSent();
          self.#listener(message);
        },
        { ignored: true },
      );
      const box = newWaitBox();
      self = new CellIsolate(isolate, context, installPrelude(isolate, context, send, box), box);
      stageDone('prelude', clock);
      return self;
    } catch (error) {
      if (!isolate.isDisposed) isolate.dispose();
      throw translateIsolateError(error) ?? error;
    }
  }

  /** True once the cell was stopped (or isolated-vm disposed the isolate itself). */
  get isDisposed(): boolean {
    return this.#stopped || this.#isolate.isDisposed;
  }

  /** True while the module is running and no task is executing in the isolate. */
  get isIdle(): boolean {
    return this.#running && this.#tasks.busy === 0 && !this.#seat.waiting && !this.isDisposed;
  }

  get cpuTimeMs(): number {
    return this.isDisposed ? 0 : Number(this.#isolate.cpuTime / 1_000_000n);
  }

  /** Listens to the sandbox's messages, idleness, death under a task, and floods (FloodGuard). */
  listen(listeners: CellIsolateListeners): void {
    this.#listener = listeners.message;
    this.#idleListener = listeners.idle;
    this.#faultListener = listeners.fault;
    this.#rejectionListener = listeners.rejection;
    this.#flood.onFlood = listeners.flood;
  }

  /** Called with isolated-vm's message when V8 lost control of the isolate: the process is tainted. */
  onCatastrophicError(listener: (message: string) => void): void {
    this.#catastrophicListener = listener;
  }

  /** Tasks into this isolate take a slot of `gate` while they run (its session's maxRunningCells). */
  useGate(gate: RunGate): void {
    this.#seat = new GateSeat(gate);
  }

  /** Marks the isolate as handed to a cell (it is used once, then disposed; `release` runs then). */
  claim(release?: () => void): this {
    if (!this.#claimed) {
      this.#claimed = true;
      this.#release = release;
      countClaimed();
    }
    return this;
  }

  #catastrophe(message: string): void {
    // The cell ends first (memoryLimit), then whoever decides about the process is told.
    this.#faultListener('ERR_MEMORY_LIMIT');
    this.#catastrophicListener(message);
  }

  /**
   * Configures the sandbox (tools, stored values, limits, and its journal's seed and clock: as
   * data, never compiled into the source), then compiles the cell as an ES module and starts
   * evaluating it. Resolves when the module's synchronous part has run, or with the compile
   * error; the outcome arrives as a
   * `done` or `fault` message. It begins once the session's gate gives the cell a slot, and
   * calls `running` then. `waits`: whether its thread may wait for a delivery after a call (a
   * sandbox told not to never asks, and each delivery enters as a task of its own: ADR 23).
   */
  start(
    source: string,
    filename: string,
    config: { text: string; journal: string; waits: boolean },
    running: () => void = () => {},
  ): Promise<{ error?: string }> {
    return new Promise((resolve, reject) =>
      this.#seat.enter(() => {
        running();
        this.#start(source, filename, config).then(resolve, reject);
      }),
    );
  }

  async #start(
    source: string,
    filename: string,
    config: { text: string; journal: string; waits: boolean },
  ): Promise<{ error?: string }> {
    this.#running = true;
    const end = this.#tasks.begin();
    try {
      // Only codecell's code runs until the module evaluates: on this thread (see create), but
      // for the compile. Its time grows with the source (~20 ms for 1 MiB), and a module compiled
      // here made V8 12 (Node 22) crash when the cell was terminated as it began (ADR 10).
      let clock = stageClock();
      this.#receive.applySync(undefined, ['configure', config.text, config.journal, config.waits]);
      clock = stageDone('configure', clock);
      let module: ivm.Module;
      try {
        module = await this.#compile(source, filename);
        this.#module = module;
      } catch (error) {
        return { error: await explainCompileError(this.#isolate, source, filename, error) };
      }
      clock = stageDone('compile', clock);
      module.instantiateSync(this.#context, refuseImport);
      stageDone('instantiate', clock);
      this.#evaluating = true;
      const evaluation = this.#tasks.inside(module.evaluate());
      const evaluated = (): void => void (this.#evaluating = false);
      evaluation.then(evaluated, evaluated);
      // Its rejection: an unhandled one of its first task, or source that closed the wrapper's try
      // block and threw past it (the cell tells them apart).
      this.#track(evaluation, true);
      return {};
    } catch (error) {
      const failure = translateIsolateError(error);
      if (failure !== undefined) throw failure;
      return { error: describeCellError(error) };
    } finally {
      end();
      if (this.#tasks.busy === 0) this.#seat.idle();
    }
  }

  /**
   * The cell as a module; one that fails only because it returns at its top level, as the body of
   * an async function whose value is its result (whose compile error is then the one that counts).
   */
  async #compile(source: string, filename: string): Promise<ivm.Module> {
    const options = { filename, lineOffset: -1 };
    try {
      return await this.#tasks.inside(this.#isolate.compileModule(wrapCell(source), options));
    } catch (error) {
      if (!returnsAtTopLevel(describeCellError(error))) throw error;
      return await this.#tasks.inside(this.#isolate.compileModule(wrapCell(source, true), options));
    }
  }

  /** A tool result, a timer: to the sandbox's wait when one takes it (ADR 23: its ask's number), else as a task (0). */
  deliver(...message: ToSandboxMessage): number {
    if (this.isDisposed) return 0;
    const ask = this.#waits.offer(message);
    if (ask === 0) this.#enter(message);
    return ask;
  }

  /** A replay's delivery to the ask `ask` that took it in the recorded run (as a task if it was taken back). */
  deliverTo(ask: number, ...message: ToSandboxMessage): void {
    if (!this.isDisposed && !this.#waits.give(ask, message)) this.#enter(message);
  }

  /** Whether the sandbox is asking its wait numbered `ask` now. */
  asking(ask: number): boolean {
    return this.#waits.asking(ask);
  }

  /** A replay begins (`held`: the asks that took deliveries) or went on live: see SandboxWaits#replaying. */
  replaying(held: ReadonlySet<number> | undefined): void {
    this.#waits.replaying(held);
  }

  /**
   * One task into the isolate, tracked from now, once it has a slot: a promise job calls the bound
   * `apply` itself, stackless (isolated-vm records its caller's stack with every call into an
   * isolate: ~2–7 µs of CPU per tool call from our optimised frames).
   */
  #enter(message: ToSandboxMessage): void {
    this.#seat.enter(() => {
      if (!this.isDisposed)
        this.#track(RESOLVED.then(this.#receive.apply.bind(this.#receive, undefined, message) as () => Promise<void>));
    });
  }

  /**
   * True once every task running or queued in the isolate now has ended, and so every microtask
   * queued before (isolated-vm runs the microtask queue at the end of each task); false if that
   * took longer than `timeoutMs` (the isolate is still busy) or the isolate is stopped. Called
   * when the sandbox said its module settled: that message's own task is then still running, so
   * waiting for it costs no extra trip into the isolate.
   */
  async drain(timeoutMs = 250): Promise<boolean> {
    if (this.isDisposed) return false;
    return (await this.#tasks.whenIdle(timeoutMs)) && !this.isDisposed;
  }

  /**
   * Stops the cell now. A running isolate (a CPU-bound loop) is disposed at once, which stops it
   * (one still running can hang isolated-vm's teardown at exit); an idle one never runs again, and
   * its disposal (~0.2 ms) waits a turn of the loop, so ending many cells is not serialized on it.
   */
  dispose(): void {
    if (this.#disposing) return;
    this.stop();
    this.#disposing = true;
    if (!this.#tasks.running) return void setImmediate(() => this.#disposeNow());
    this.#disposeNow();
    unwindingThread(this.#tasks.unwound());
  }

  /** Stops listening to and delivering into the isolate, without disposing it yet. */
  stop(): void {
    this.#stopped = true;
    this.#running = false;
    this.#waits.stop();
    this.#seat.leave();
    this.#listener = () => {};
  }

  #disposeNow(): void {
    this.#release?.();
    this.#release = undefined;
    countDisposed(this.#claimed);
    if (this.#isolate.isDisposed) return;
    releaseAndDispose(this.#isolate, [this.#receive, this.#module, this.#context]);
    this.#module = undefined;
  }

  /**
   * Resolves once no task runs in the isolate any more. After dispose() that is when its thread
   * has really stopped; a process must not exit before (isolated-vm can crash at teardown).
   */
  get stopped(): Promise<void> {
    return this.#tasks.settled(STOP_WAIT_MS);
  }

  #track(task: Promise<unknown>, fromModule = false): void {
    this.#tasks.track(task, (error) => {
      // An isolate death, or the cell's own rejection that the task ended with unhandled.
      const failure = translateIsolateError(error);
      if (failure?.code === 'ERR_MEMORY_LIMIT') this.#faultListener(failure.code);
      else if (failure === undefined && !this.isDisposed) this.#rejectionListener(error, fromModule);
    });
  }
}
