// The closest peer, OpenAI Codex's code-mode host (`codex-code-mode-host`, Rust, shipped in
// `@openai/codex`), driven over its own stdio protocol: JSON frames behind a 4-byte little-endian
// length; a hello, then `operation/request`s, with tool calls coming back as `delegate/request`s.
// `--peers` installs the package into a cache folder outside the repository on first use.
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LengthPrefixedFrames, writeFrame } from './frames.js';
import type { BenchSession, BenchSubject, ToolHandler } from './subject.js';

export const CODEX_VERSION = '0.171.0';

const cacheDir = (): string =>
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'codecell-bench', `codex-${CODEX_VERSION}`);

function binaryPath(): string {
  const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  return join(
    cacheDir(),
    'node_modules',
    '@openai',
    `codex-${process.platform}-${process.arch}`,
    'vendor',
    `${arch}-unknown-linux-musl`,
    'bin',
    'codex-code-mode-host',
  );
}

/** The peer's binary: found in the cache, installed there when `install`, else undefined. */
export function findCodexHost(install: boolean): string | undefined {
  const path = binaryPath();
  if (existsSync(path)) return path;
  if (!install || process.platform !== 'linux') return undefined;
  mkdirSync(cacheDir(), { recursive: true });
  console.log(`installing @openai/codex@${CODEX_VERSION} into ${cacheDir()} (the Codex host peer)…`);
  const result = spawnSync(
    'npm',
    ['install', '--prefix', cacheDir(), '--no-audit', '--no-fund', '--no-save', `@openai/codex@${CODEX_VERSION}`],
    { stdio: 'inherit' },
  );
  if (result.status !== 0)
    throw new Error(`could not install @openai/codex@${CODEX_VERSION} (npm exited ${result.status})`);
  return existsSync(path) ? path : undefined;
}

type Frame = Record<string, unknown> & { type: string };
type Outcome = { text: string[]; error: string | undefined };

/** One codex-code-mode-host process: sessions opened on it share its connection. */
export class CodexHost implements BenchSubject {
  readonly name = 'Codex host';
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #requests = new Map<number, (frame: Frame) => void>();
  readonly #initial = new Map<number, (outcome: Outcome) => void>();
  readonly #tools = new Map<string, ToolHandler>();
  #nextId = 1;
  #nextSession = 1;
  #ready: Promise<void>;

  constructor(binary: string) {
    this.#child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'ignore'] });
    const frames = new LengthPrefixedFrames((body) => this.#receive(JSON.parse(body) as Frame));
    this.#child.stdout.on('data', (chunk: Buffer) => frames.push(chunk));
    this.#ready = new Promise((resolve, reject) => {
      this.#requests.set(0, (frame) =>
        frame.type === 'connection/ready'
          ? resolve()
          : reject(new Error(`codex host refused the hello: ${JSON.stringify(frame)}`)),
      );
      this.#child.once('exit', (code) => reject(new Error(`codex host exited (${code})`)));
    });
    this.#send({
      type: 'connection/hello',
      supportedVersions: [1],
      requiredCapabilities: [],
      optionalCapabilities: [],
    });
  }

  async openSession(tool: ToolHandler): Promise<BenchSession> {
    await this.#ready;
    const sessionId = `s${this.#nextSession++}`;
    await this.#request({ method: 'session/open', sessionId });
    this.#tools.set(sessionId, tool);
    const enabledTools = [
      {
        name: 'echo',
        tool_name: { name: 'echo', namespace: null },
        description: 'echo',
        kind: 'function',
        input_schema: { type: 'object' },
        output_schema: null,
      },
    ];
    return {
      run: async (source) => {
        const id = this.#nextId++;
        const outcome = new Promise<Outcome>((resolve) => this.#initial.set(id, resolve));
        this.#send({
          type: 'operation/request',
          id,
          request: {
            method: 'session/execute',
            sessionId,
            request: {
              tool_call_id: `call-${id}`,
              enabled_tools: enabledTools,
              source,
              yield_time_ms: 60_000,
              max_output_tokens: null,
            },
          },
        });
        const started = await new Promise<Frame>((resolve) => this.#requests.set(id, resolve));
        if ((started.result as { status: string }).status !== 'ok')
          throw new Error(`codex execute failed: ${JSON.stringify(started)}`);
        return outcome;
      },
      close: async () => {
        await this.#request({ method: 'session/shutdown', sessionId });
        this.#tools.delete(sessionId);
      },
    };
  }

  async close(): Promise<void> {
    this.#child.stdin.end();
    if (this.#child.exitCode === null) await new Promise((resolve) => this.#child.once('exit', resolve));
  }

  async #request(request: Record<string, unknown>): Promise<Frame> {
    const id = this.#nextId++;
    const answer = new Promise<Frame>((resolve) => this.#requests.set(id, resolve));
    this.#send({ type: 'operation/request', id, request });
    const frame = await answer;
    if ((frame.result as { status: string }).status !== 'ok')
      throw new Error(`codex ${String(request.method)} failed: ${JSON.stringify(frame)}`);
    return frame;
  }

  #send(frame: object): void {
    writeFrame(this.#child.stdin, JSON.stringify(frame));
  }

  #receive(frame: Frame): void {
    switch (frame.type) {
      case 'connection/ready':
      case 'connection/rejected':
        this.#take(this.#requests, 0)?.(frame);
        return;
      case 'operation/response':
        this.#take(this.#requests, frame.id as number)?.(frame);
        return;
      case 'execute/initialResponse': {
        const result = frame.result as {
          status: string;
          value?: Record<string, { content_items: { type: string; text?: string }[]; error_text?: string | null }>;
          message?: string;
        };
        const body = result.value === undefined ? undefined : Object.values(result.value)[0];
        const text = (body?.content_items ?? []).flatMap((item) =>
          item.type === 'input_text' && item.text !== undefined ? [item.text] : [],
        );
        this.#take(
          this.#initial,
          frame.id as number,
        )?.({ text, error: result.status === 'ok' ? (body?.error_text ?? undefined) : result.message });
        return;
      }
      case 'delegate/request':
        void this.#delegate(frame);
        return;
      default:
    }
  }

  async #delegate(frame: Frame): Promise<void> {
    const request = frame.request as { type: string; invocation?: { input?: unknown } };
    const tool = this.#tools.get(frame.sessionId as string);
    let value: object = { type: 'notification/delivered' };
    if (request.type === 'tool/invoke')
      value = { type: 'tool/result', result: tool === undefined ? null : await tool(request.invocation?.input) };
    this.#send({ type: 'delegate/response', id: frame.id, result: { status: 'ok', value } });
  }

  #take<K, V>(map: Map<K, V>, key: K): V | undefined {
    const value = map.get(key);
    map.delete(key);
    return value;
  }
}
