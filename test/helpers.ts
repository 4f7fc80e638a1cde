// Shared test fixtures: a recording delegate, deferreds, a capturing logger.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { CellInterrupt, SessionRuntime, type SessionRuntimeOptions, type SessionSnapshot } from '../src/index.js';
import type {
  CellId,
  CellNotification,
  CellStreamEvent,
  CodeCellSession,
  JsonValue,
  Logger,
  NestedToolCall,
  SessionRuntimeDelegate,
  SessionStreamEvent,
} from '../src/index.js';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export interface CapturingLogger extends Logger {
  warnings: string[];
  errors: string[];
}

export function capturingLogger(): CapturingLogger {
  const warnings: string[] = [];
  const errors: string[] = [];
  return { warnings, errors, warn: (m) => warnings.push(m), error: (m) => errors.push(m) };
}

type ToolHandler = (
  call: NestedToolCall,
  signal: AbortSignal,
) => Promise<JsonValue | undefined> | JsonValue | undefined;
type NotifyHandler = (notification: CellNotification, signal: AbortSignal) => Promise<void> | void;

/** A delegate that records every call and answers with per-tool handlers. */
export class RecordingDelegate implements SessionRuntimeDelegate {
  readonly calls: NestedToolCall[] = [];
  readonly signals: AbortSignal[] = [];
  readonly notifications: CellNotification[] = [];
  readonly notifySignals: AbortSignal[] = [];
  readonly closed: CellId[] = [];
  readonly log: string[] = [];
  readonly tools: Record<string, ToolHandler>;
  notifyHandler: NotifyHandler | undefined;
  cellClosedHandler: ((cellId: CellId) => void | Promise<void>) | undefined;

  constructor(tools: Record<string, ToolHandler> = {}) {
    this.tools = tools;
  }

  async invokeTool(call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined> {
    this.calls.push(call);
    this.signals.push(signal);
    this.log.push(`tool:${call.callId}`);
    const handler = this.tools[call.tool.name];
    if (handler === undefined) throw new Error(`no such tool: ${call.tool.name}`);
    return handler(call, signal);
  }

  async notify(notification: CellNotification, signal: AbortSignal): Promise<void> {
    this.notifications.push(notification);
    this.notifySignals.push(signal);
    this.log.push(`notify:${notification.text}`);
    await this.notifyHandler?.(notification, signal);
  }

  async cellClosed(cellId: CellId): Promise<void> {
    this.closed.push(cellId);
    await this.cellClosedHandler?.(cellId);
  }
}

/** The tools of the durable-cell tests: get answers, approve pauses its cell, slow is set per test. */
export const APPROVAL_TOOLS = [{ name: 'get' }, { name: 'approve' }, { name: 'slow' }];
/** An observation long enough for any cell of a test to end in it. */
export const LONG_WAIT = { kind: 'yieldAfter', ms: 30_000 } as const;

/** get → { n: input.n * 10 }; approve → CellInterrupt({ asked: input }). */
export function approvals(): RecordingDelegate {
  return new RecordingDelegate({
    get: (call) => ({ n: ((call.input as { n: number }).n ?? 0) * 10 }),
    approve: (call) => {
      throw new CellInterrupt({ asked: call.input ?? null });
    },
  });
}

/** A promise that never settles, and ignores its signal: a non-cooperative delegate. */
export const hang = (): Promise<never> => new Promise<never>(() => {});

/** Holds this thread for `ms`: no timer runs meanwhile (a session's lease is not renewed). */
export const stall = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** A promise that rejects with the signal's reason when it aborts: a cooperative delegate. */
export function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

export function newRuntime(
  t: TestContext,
  delegate: SessionRuntimeDelegate,
  options: SessionRuntimeOptions = {},
  snapshot?: SessionSnapshot,
): SessionRuntime {
  const withLogger = { logger: capturingLogger(), ...options };
  const runtime =
    snapshot === undefined
      ? new SessionRuntime(delegate, withLogger)
      : SessionRuntime.resume(snapshot, delegate, withLogger);
  t.after(() => runtime.shutdown());
  return runtime;
}

export const texts = (event: { items: { type: string }[] }): string[] =>
  event.items.map((item) => ('text' in item ? String(item.text) : `[${item.type}]`));

export const ms = (start: number): number => performance.now() - start;

/** The cell's stream events from now on, gathered as they come (the stream ends with `t`). */
export function followCell(t: TestContext, session: CodeCellSession, cellId: string): CellStreamEvent[] {
  return gather(t, session.events(cellId));
}

/** The session's stream events from now on, gathered as they come (the stream ends with `t`). */
export function followSession(t: TestContext, session: CodeCellSession): SessionStreamEvent[] {
  return gather(t, session.events());
}

function gather<T>(t: TestContext, stream: AsyncIterableIterator<T>): T[] {
  const seen: T[] = [];
  t.after(async () => void (await stream.return?.()));
  void (async () => {
    for await (const event of stream) seen.push(event);
  })().catch(() => {});
  return seen;
}

/** Polls a condition (for state that has no event to await), failing after a generous bound. */
/** Whether a process of this pid is alive (signal 0 reaches it). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (ms(start) > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Runs one of the repository's scripts with this Node, from its root: its exit status and output. */
export function runRepoScript(script: string, args: string[] = []): { status: number | null; output: string } {
  const { status, stdout, stderr } = spawnSync(process.execPath, [script, ...args], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status, output: `${stdout}${stderr}` };
}

/** Where a clean-up is registered: a test's context, or node:test's `after` for a whole file. */
type CleanUp = { after(fn: () => void): void };

/** A fresh folder under the system's temporary one, removed with everything in it once `t` ends. */
export function tempFolder(t: CleanUp, prefix: string): string {
  const folder = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(folder, { recursive: true, force: true }));
  return folder;
}

/** A file named `token` holding `text`, in a fresh temporary folder (see tempFolder). */
export function tempFile(t: CleanUp, prefix: string, text: string): string {
  const file = join(tempFolder(t, prefix), 'token');
  writeFileSync(file, text);
  return file;
}
