// src/tools/ — how tools are described and offered to a model: the exec/wait pair (this file),
// the result they return (code-mode-result.ts), TypeScript declarations of the tools
// (declarations.ts), the search tool of a long tool list (search-tool.ts) and tool identifiers
// (tool-names.ts). It imports src/'s base files and the sandbox's declared globals; session/ and the adapters import
// it.
//
// The exec/wait tool pair an agent gives its model, framework-neutral: a name, a description with
// the tools' declarations, strict-mode JSON schemas, and execute(input, { signal }) returning a
// result object, plus the rendering of that result as text for the model. The framework adapters
// (codecell/ai-sdk, codecell/openai-agents, codecell/tanstack) wrap these.
import { DEFAULT_YIELD_MS } from '../defaults.js';
import { describeExecTool, renderToolDeclarations } from './declarations.js';
import { toolIdentifier } from './tool-names.js';
import { CodeCellError, invalidRequest, messageOf } from '../errors.js';
import type { CodeCellSession } from '../session-interface.js';
import type {
  CellAnswer,
  CellEvent,
  CellLanguage,
  CellStreamEvent,
  JsonValue,
  OutputItem,
  ToolDefinition,
} from '../types.js';
import { codeModeResult, RESULT_SCHEMA, type CodeModeResult } from './code-mode-result.js';
import { follow, terminateOnAbort } from './follow.js';
import { searchTool, type CodeModeSearchTool } from './search-tool.js';

export type { CodeModeSearchTool } from './search-tool.js';
export { codeModeResult, codeModeStatus, renderCodeModeResult, type CodeModeResult } from './code-mode-result.js';

/** exec's input: the cell's source, its language and how long to wait for it. */
export interface ExecInput {
  source: string;
  language?: CellLanguage | null;
  yield_time_ms?: number | null;
}

/** wait's input: the cell to wait on (or terminate) and how long. */
export interface WaitInput {
  cell_id: string;
  yield_time_ms?: number | null;
  terminate?: boolean | null;
}

/** One tool of the pair, in the shape every framework adapter starts from. */
export interface CodeModeTool<Input> {
  name: string;
  description: string;
  /** JSON Schema of the input; strict-mode compatible (all fields required, nullable when optional). */
  inputSchema: { [key: string]: JsonValue };
  /** JSON Schema of CodeModeResult, strict-mode compatible. */
  outputSchema: { [key: string]: JsonValue };
  /**
   * Runs the tool; when `signal` aborts, exec and wait terminate the cell they were waiting on.
   * `onEvent` hears the cell's stream events while the call waits (e.g. for progress messages).
   */
  execute(input: Input, options?: ExecuteOptions): Promise<CodeModeResult>;
}

/** How a code-mode tool call may be aborted and followed. */
export interface ExecuteOptions {
  signal?: AbortSignal;
  onEvent?: (event: CellStreamEvent) => void;
  /**
   * wait on a cell a tool paused (CellInterrupt): a person decided. `true`: the pause is answered
   * with `approvedAnswer` (by default the paused call is made now) and the cell goes on; `false`:
   * the call fails in the cell, saying a person declined it (`declineReason` with it). Without
   * it, wait reports the pause again. The adapters set it from their framework's approvals.
   */
  approved?: boolean;
  declineReason?: string;
}

/** A cell a tool paused: the call it waits at and the payload of the CellInterrupt. */
export type CellPause = Omit<Extract<CellEvent, { kind: 'interrupted' }>, 'kind' | 'items'>;

/**
 * What a person is asked about a paused call: `A cell wants to call tools.<id>(<input>)`; for a
 * call in doubt after a recovery (SPEC §16), that it may have been made already.
 */
export const describePause = (
  pause: Pick<CellPause, 'tool' | 'input'> & Pick<Partial<CellPause>, 'reason'>,
): string => {
  const call = `tools.${toolIdentifier(pause.tool)}(${JSON.stringify(pause.input ?? null)})`;
  return pause.reason === 'inDoubt'
    ? `A cell's call ${call} may or may not have been made (its agent process was lost); it would be made again`
    : `A cell wants to call ${call}`;
};

/** A session, or something that starts one on first use (a SessionBuilder). */
export type CodeModeTarget = CodeCellSession | { start(options?: { signal?: AbortSignal }): Promise<CodeCellSession> };

/** Names, defaults and behaviour of the exec/wait pair. */
export interface CodeModeToolsOptions {
  /** The tools the cells can call, for the description (default: the session's `tools`, if any). */
  tools?: readonly ToolDefinition[];
  execName?: string;
  waitName?: string;
  /** Default yield_time_ms (10 000). */
  defaultYieldMs?: number;
  /**
   * OpenAI strict-mode schemas (default true): every field required, `null` for "not given".
   * false: only `source` / `cell_id` required (for MCP clients and other loose callers).
   */
  strict?: boolean;
  /**
   * What an aborted exec or wait does to its cell: 'terminate' it (default), or 'detach': the
   * call gives up, the cell runs on, and its output so far comes with the next wait.
   */
  onAbort?: 'terminate' | 'detach';
  /**
   * Past this many characters of tool declarations, exec's description lists the tools by name
   * only, and a third tool (`search`, named by `searchName`) returns declarations on demand.
   */
  maxDeclarationChars?: number;
  searchName?: string;
  /**
   * What the paused call gets when its pause is approved (default `{ approved: true }`: the call
   * is made now — the session's delegate gets it again, marked `approved` — and the cell gets
   * what it answers; for a call in doubt after a recovery, `{ retry: true }`).
   */
  approvedAnswer?: (pause: CellPause) => CellAnswer | Promise<CellAnswer>;
}

/** The exec/wait pair (and the search tool of a long tool list) over one session. */
export interface CodeModeTools {
  exec: CodeModeTool<ExecInput>;
  wait: CodeModeTool<WaitInput>;
  /** Present when the declarations are over maxDeclarationChars. */
  search: CodeModeSearchTool | undefined;
  /** The session (started on first use when the target is a builder). */
  session(): Promise<CodeCellSession>;
  /**
   * The pause of a cell a tool paused, as exec or wait last reported it (undefined once it goes
   * on or ends): the adapters ask their framework's approval for a wait on such a cell.
   */
  paused(cellId: string): CellPause | undefined;
}

/** How many detached cells keep their taken output for a later wait. */
const MAX_KEPT_CELLS = 64;
/** How many paused cells the pair remembers (each counts against maxCellsPerSession too). */
const MAX_PAUSED_CELLS = 1_024;
/** Tools named in exec's description at most when their declarations are left to search_tools. */
const MAX_LISTED_TOOLS = 200;

/** The exec/wait pair over a session (or a builder, started on first use). */
export function createCodeModeTools(target: CodeModeTarget, options: CodeModeToolsOptions = {}): CodeModeTools {
  if (target === null || typeof target !== 'object')
    throw new CodeCellError('ERR_INVALID_REQUEST', 'createCodeModeTools needs a session or a SessionBuilder');
  const { execName = 'exec', waitName = 'wait', searchName = 'search_tools' } = options;
  const { defaultYieldMs = DEFAULT_YIELD_MS, strict = true, onAbort = 'terminate' } = options;
  const tools = options.tools ?? (target as { tools?: readonly ToolDefinition[] }).tools ?? [];
  // Approved, a paused call is made now; a call in doubt (SPEC §16) is made again, as it was.
  const approvedAnswer =
    options.approvedAnswer ??
    ((pause: CellPause): CellAnswer => (pause.reason === 'inDoubt' ? { retry: true } : { approved: true }));
  if (typeof approvedAnswer !== 'function')
    throw new CodeCellError('ERR_INVALID_REQUEST', 'approvedAnswer must be a function of the pause');
  const runner = new CodeModeRunner(target, { execName, waitName, defaultYieldMs, onAbort, approvedAnswer });
  const compact = renderToolDeclarations(tools).length > (options.maxDeclarationChars ?? Number.POSITIVE_INFINITY);
  const described = describeExecTool(compact ? [] : tools, {
    execName,
    waitName,
    defaultYieldMs,
    strict,
    defaultLanguage: 'auto',
  });
  // Named up to MAX_LISTED_TOOLS: past them, search_tools is the way (20 000 upstream tools made a
  // description of 592 000 characters).
  const names = tools.slice(0, MAX_LISTED_TOOLS).map((tool) => `tools.${toolIdentifier(tool)}`);
  const more = tools.length - names.length;
  const listed = names.join(', ') + (more > 0 ? `, and ${more} more (${searchName} finds them)` : '');
  const exec: CodeModeTool<ExecInput> = {
    name: execName,
    description: [
      described.exec.description,
      ...(compact ? ['', `The tools (call ${searchName} for their declarations): ${listed}`] : []),
    ].join('\n'),
    inputSchema: described.exec.inputSchema,
    outputSchema: RESULT_SCHEMA,
    execute: (input, options = {}) => runner.exec(input, options),
  };
  const wait: CodeModeTool<WaitInput> = {
    name: waitName,
    description: described.wait.description,
    inputSchema: described.wait.inputSchema,
    outputSchema: RESULT_SCHEMA,
    execute: (input, options = {}) => runner.wait(input, options),
  };
  const search = compact ? searchTool(tools, searchName, execName) : undefined;
  return { exec, wait, search, session: () => runner.session(), paused: (cellId) => runner.paused(cellId) };
}

interface RunnerSettings {
  execName: string;
  waitName: string;
  defaultYieldMs: number;
  onAbort: 'terminate' | 'detach';
  approvedAnswer: (pause: CellPause) => CellAnswer | Promise<CellAnswer>;
}

/** What exec and wait do: cells of one session, and the output detached calls had taken. */
class CodeModeRunner {
  readonly #target: CodeModeTarget;
  readonly #settings: RunnerSettings;
  #started: Promise<CodeCellSession> | undefined;
  /** Output a detached call had taken from its cell, given with the cell's next result. */
  readonly #kept = new Map<string, OutputItem[]>();
  /** Cells terminated because their call was aborted: the outcome a later wait gets (once). */
  readonly #cancelled = new Map<string, Promise<CellEvent>>();
  /** Cells a tool paused, as last reported. */
  readonly #paused = new Map<string, CellPause>();

  constructor(target: CodeModeTarget, settings: RunnerSettings) {
    this.#target = target;
    this.#settings = settings;
  }

  /** The session; a builder's is started on first use, and again if its host died (or it failed to start). */
  async session(): Promise<CodeCellSession> {
    const target = this.#target;
    if ('execute' in target) return target;
    const current = (this.#started ??= target.start());
    let live: CodeCellSession;
    try {
      live = await current;
    } catch (error) {
      if (this.#started === current) this.#started = undefined;
      throw error;
    }
    if (live.isAlive) return live;
    // Its host is gone (what the old session stored went with it): a fresh one takes over.
    if (this.#started === current) this.#started = target.start();
    return this.#started;
  }

  async exec(input: ExecInput, options: ExecuteOptions): Promise<CodeModeResult> {
    const { signal } = options;
    checkExecInput(input, this.#settings.execName);
    signal?.throwIfAborted();
    const live = await this.session();
    const request = { source: input.source, language: input.language ?? 'auto' } as const;
    const observe = { kind: 'yieldAfter', ms: this.#yieldMs(input.yield_time_ms) } as const;
    if (this.#settings.onAbort === 'terminate' || signal === undefined) {
      const { cellId, initialEvent } = await live.execute(request, observe);
      return this.#settle(live, cellId, initialEvent, options);
    }
    // Detachable: the initial observation returns at once; the wait is one the signal can end.
    const { cellId, initialEvent } = await live.execute(request, { kind: 'yieldAfter', ms: 0 });
    const first = await initialEvent;
    if (first.kind === 'completed' || first.kind === 'terminated') return codeModeResult(first);
    this.#kept.set(cellId, first.items);
    // Bounded: output of detached cells nobody waits for again is dropped, oldest first.
    if (this.#kept.size > MAX_KEPT_CELLS) this.#kept.delete(this.#kept.keys().next().value as string);
    const { event } = await live.beginObserve(cellId, observe, signal);
    return this.#settle(live, cellId, event, options);
  }

  paused(cellId: string): CellPause | undefined {
    return this.#paused.get(cellId);
  }

  async wait(input: WaitInput, options: ExecuteOptions): Promise<CodeModeResult> {
    const { execName, waitName } = this.#settings;
    if (input === null || typeof input !== 'object' || typeof input.cell_id !== 'string')
      throw invalidRequest(`${waitName}: cell_id must be a string`);
    checkArguments(input, waitName, WAIT_ARGUMENTS);
    const live = await this.session();
    const cancelled = this.#cancelled.get(input.cell_id);
    if (cancelled !== undefined) {
      this.#cancelled.delete(input.cell_id);
      const outcome = await cancelled.catch(() => undefined);
      if (outcome !== undefined) return codeModeResult(this.#withKept(input.cell_id, outcome));
    }
    try {
      if (input.terminate === true) {
        this.#paused.delete(input.cell_id);
        return codeModeResult(this.#withKept(input.cell_id, await live.terminate(input.cell_id)));
      }
      const observe = { kind: 'yieldAfter', ms: this.#yieldMs(input.yield_time_ms) } as const;
      const pause = this.#paused.get(input.cell_id);
      if (pause !== undefined && options.approved !== undefined) {
        // A person decided: the paused call gets its answer and the cell runs on from its journal.
        const { declineReason: reason } = options;
        const answer: CellAnswer = options.approved
          ? await this.#settings.approvedAnswer(pause)
          : { declined: true, ...(reason === undefined ? {} : { reason }) };
        const event = live.resumeCell(input.cell_id, answer, observe);
        return await this.#settle(live, input.cell_id, event, options);
      }
      const { event } = await live.beginObserve(input.cell_id, observe, options.signal);
      return await this.#settle(live, input.cell_id, event, options);
    } catch (error) {
      if (error instanceof CodeCellError && error.code === 'ERR_MISSING_CELL') {
        const why = `it finished and its result was already returned, or ${execName} never returned it`;
        const message = `cell_id ${JSON.stringify(input.cell_id)} is not running: ${why} (${messageOf(error)})`;
        throw new CodeCellError('ERR_MISSING_CELL', message);
      }
      throw error;
    }
  }

  #yieldMs(value: unknown): number {
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : this.#settings.defaultYieldMs;
  }

  #withKept(cellId: string, event: CellEvent): CellEvent {
    const before = this.#kept.get(cellId);
    this.#kept.delete(cellId);
    return before === undefined ? event : { ...event, items: [...before, ...event.items] };
  }

  /** Waits for `event`; an abort terminates the cell (or detaches from it) and rejects. */
  async #settle(
    live: CodeCellSession,
    cellId: string,
    event: Promise<CellEvent>,
    { signal, onEvent }: ExecuteOptions,
  ): Promise<CodeModeResult> {
    const unfollow = follow(live, cellId, onEvent);
    let outcome: CellEvent | undefined;
    try {
      if (signal === undefined || this.#settings.onAbort === 'detach') outcome = await event;
      else {
        const remember = (terminated: Promise<CellEvent>): void => {
          this.#cancelled.set(cellId, terminated);
          if (this.#cancelled.size > MAX_KEPT_CELLS)
            this.#cancelled.delete(this.#cancelled.keys().next().value as string);
        };
        outcome = await terminateOnAbort(live, cellId, event, signal, remember);
      }
    } finally {
      // A cell that ended: its last events (a notify() just before its end) are handed on first.
      await unfollow(outcome?.kind === 'completed' || outcome?.kind === 'terminated');
      this.#paused.delete(cellId);
    }
    if (outcome.kind === 'interrupted') {
      const { kind: _, items: __, ...pause } = outcome;
      this.#paused.set(cellId, pause);
      if (this.#paused.size > MAX_PAUSED_CELLS) this.#paused.delete(this.#paused.keys().next().value as string);
    }
    return codeModeResult(this.#withKept(cellId, outcome));
  }
}

const EXEC_ARGUMENTS = ['source', 'language', 'yield_time_ms'];
const WAIT_ARGUMENTS = ['cell_id', 'yield_time_ms', 'terminate'];

/** An argument the tool does not take is named (a misspelt `yield_time_ms` would silently do nothing). */
function checkArguments(input: object, name: string, known: readonly string[]): void {
  const unknown = Object.keys(input).filter((key) => !known.includes(key));
  if (unknown.length > 0)
    throw invalidRequest(
      `${name}: unknown argument${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => JSON.stringify(key)).join(', ')}` +
        ` (it takes ${known.join(', ')})`,
    );
}

/** Errors name the tool's own parameters (not the runtime's request fields). */
function checkExecInput(input: ExecInput, execName: string): void {
  if (input === null || typeof input !== 'object') throw invalidRequest(`${execName}: source must be a string`);
  // A misnamed source (`code`, `script`) is named before the missing one.
  checkArguments(input, execName, EXEC_ARGUMENTS);
  if (typeof input.source !== 'string') throw invalidRequest(`${execName}: source must be a string`);
  const { language } = input;
  if (language !== undefined && language !== null && !['javascript', 'typescript', 'auto'].includes(language)) {
    throw invalidRequest(
      `${execName}: language must be javascript, typescript or auto, got ${JSON.stringify(language)}`,
    );
  }
  if (input.source.trim() === '') throw invalidRequest(`${execName}: source is empty`);
}
