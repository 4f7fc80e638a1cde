// src/tools/ — how tools are described and offered to a model: the exec/wait pair (this file),
// TypeScript declarations of the tools (declarations.ts) and tool identifiers (tool-names.ts). It
// imports src/'s base files and the sandbox's declared globals; session/ and the adapters import it.
//
// The exec/wait tool pair an agent gives its model, framework-neutral: a name, a description with
// the tools' declarations, strict-mode JSON schemas, and execute(input, { signal }) returning a
// result object, plus the rendering of that result as text for the model. The framework adapters
// (codecell/ai-sdk, codecell/openai-agents, codecell/tanstack) wrap these.
import { DEFAULT_YIELD_MS } from '../defaults.js';
import { describeExecTool, renderToolDeclarations } from './declarations.js';
import { toolIdentifier } from './tool-names.js';
import { CodeCellError, invalidRequest, messageOf } from '../errors.js';
import type {
  CellEvent,
  CellLanguage,
  CellStreamEvent,
  CodeCellSession,
  JsonValue,
  OutputItem,
  ToolDefinition,
} from '../types.js';
import { follow } from './follow.js';

/** What exec and wait return (every field present: OpenAI strict mode allows no optional ones). */
export interface CodeModeResult {
  cell_id: string;
  /** completed (its code finished), failed (it threw), terminated, or still running: yielded / pending. */
  status: 'completed' | 'failed' | 'terminated' | 'yielded' | 'pending';
  /** The cell's text output since the last result, one item per line. */
  output: string;
  images: { image_url: string; detail: string | null }[];
  /** The cell's error (with its line number), or why it was terminated; null otherwise. */
  error: string | null;
  /** The tool calls a pending cell waits on. */
  pending_tool_calls: string[];
}

export interface ExecInput {
  source: string;
  language?: CellLanguage | null;
  yield_time_ms?: number | null;
}

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

export interface ExecuteOptions {
  signal?: AbortSignal;
  onEvent?: (event: CellStreamEvent) => void;
}

/** A session, or something that starts one on first use (a SessionBuilder). */
export type CodeModeTarget = CodeCellSession | { start(options?: { signal?: AbortSignal }): Promise<CodeCellSession> };

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
}

/** The search tool: declarations of the tools matching a query. */
export interface CodeModeSearchTool {
  name: string;
  description: string;
  inputSchema: { [key: string]: JsonValue };
  execute(input: { query: string }): Promise<string>;
}

export interface CodeModeTools {
  exec: CodeModeTool<ExecInput>;
  wait: CodeModeTool<WaitInput>;
  /** Present when the declarations are over maxDeclarationChars. */
  search: CodeModeSearchTool | undefined;
  /** The session (started on first use when the target is a builder). */
  session(): Promise<CodeCellSession>;
}

/** How many detached cells keep their taken output for a later wait. */
const MAX_KEPT_CELLS = 64;

const RESULT_SCHEMA: { [key: string]: JsonValue } = {
  type: 'object',
  properties: {
    cell_id: { type: 'string' },
    status: { type: 'string', enum: ['completed', 'failed', 'terminated', 'yielded', 'pending'] },
    output: { type: 'string' },
    images: {
      type: 'array',
      items: {
        type: 'object',
        properties: { image_url: { type: 'string' }, detail: { type: ['string', 'null'] } },
        required: ['image_url', 'detail'],
        additionalProperties: false,
      },
    },
    error: { type: ['string', 'null'] },
    pending_tool_calls: { type: 'array', items: { type: 'string' } },
  },
  required: ['cell_id', 'status', 'output', 'images', 'error', 'pending_tool_calls'],
  additionalProperties: false,
};

/** A cell event as the result the model gets. */
export function codeModeResult(event: CellEvent): CodeModeResult {
  const output = event.items.flatMap((item) => (item.type === 'text' ? [item.text] : [])).join('\n');
  const images = event.items.flatMap((item) =>
    item.type === 'image' ? [{ image_url: item.imageUrl, detail: item.detail ?? null }] : [],
  );
  const base = { cell_id: event.cellId, output, images, error: null, pending_tool_calls: [] };
  switch (event.kind) {
    case 'completed':
      return event.error === undefined
        ? { ...base, status: 'completed' }
        : { ...base, status: 'failed', error: event.error };
    case 'terminated':
      return { ...base, status: 'terminated', error: `terminated (${event.reason ?? 'requested'})` };
    case 'pending':
      return { ...base, status: 'pending', pending_tool_calls: event.pendingToolCallIds };
    default:
      return { ...base, status: 'yielded' };
  }
}

/** The line that says how the cell stands (and what to call next). */
export function codeModeStatus(result: CodeModeResult, waitName = 'wait'): string {
  switch (result.status) {
    case 'completed':
      return `cell ${result.cell_id} completed`;
    case 'failed':
      return `cell ${result.cell_id} failed:\n${result.error ?? ''}`;
    case 'terminated':
      return `cell ${result.cell_id} was ${result.error ?? 'terminated'}`;
    case 'pending':
      return `cell ${result.cell_id} is waiting on ${result.pending_tool_calls.join(', ') || 'timers'}; call ${waitName} with cell_id "${result.cell_id}"`;
    default:
      return `cell ${result.cell_id} is still running; call ${waitName} with cell_id "${result.cell_id}"`;
  }
}

/** The result as one text for a model that takes text only (images are counted). */
export function renderCodeModeResult(result: CodeModeResult, waitName = 'wait'): string {
  const lines = result.output === '' ? [] : [result.output];
  if (result.images.length > 0) lines.push(`[${result.images.length} image(s)]`);
  lines.push(codeModeStatus(result, waitName));
  return lines.join('\n');
}

/** The exec/wait pair over a session (or a builder, started on first use). */
export function createCodeModeTools(target: CodeModeTarget, options: CodeModeToolsOptions = {}): CodeModeTools {
  if (target === null || typeof target !== 'object')
    throw new CodeCellError('ERR_INVALID_REQUEST', 'createCodeModeTools needs a session or a SessionBuilder');
  const {
    execName = 'exec',
    waitName = 'wait',
    searchName = 'search_tools',
    defaultYieldMs = DEFAULT_YIELD_MS,
    strict = true,
    onAbort = 'terminate',
  } = options;
  const tools = options.tools ?? (target as { tools?: readonly ToolDefinition[] }).tools ?? [];
  let started: Promise<CodeCellSession> | undefined;
  /** The session; a builder's is started on first use, and again if its host died (or it failed to start). */
  const session = async (): Promise<CodeCellSession> => {
    if ('execute' in target) return target;
    const current = (started ??= target.start());
    let live: CodeCellSession;
    try {
      live = await current;
    } catch (error) {
      if (started === current) started = undefined;
      throw error;
    }
    if (live.isAlive) return live;
    // Its host is gone (what the old session stored went with it): a fresh one takes over.
    if (started === current) started = target.start();
    return started;
  };
  const compact = renderToolDeclarations(tools).length > (options.maxDeclarationChars ?? Number.POSITIVE_INFINITY);
  const described = describeExecTool(compact ? [] : tools, {
    execName,
    waitName,
    defaultYieldMs,
    strict,
    defaultLanguage: 'auto',
  });
  const yieldMs = (value: unknown): number =>
    typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : defaultYieldMs;
  /** Output a detached call had taken from its cell, given with the cell's next result. */
  const kept = new Map<string, OutputItem[]>();
  const withKept = (cellId: string, event: CellEvent): CellEvent => {
    const before = kept.get(cellId);
    kept.delete(cellId);
    return before === undefined ? event : { ...event, items: [...before, ...event.items] };
  };

  /** Waits for `event`; an abort terminates the cell (or detaches from it) and rejects. */
  const settle = async (
    live: CodeCellSession,
    cellId: string,
    event: Promise<CellEvent>,
    { signal, onEvent }: ExecuteOptions,
  ): Promise<CodeModeResult> => {
    const unfollow = follow(live, cellId, onEvent);
    try {
      return await settleOrAbort(live, cellId, event, signal);
    } finally {
      unfollow();
    }
  };
  const settleOrAbort = async (
    live: CodeCellSession,
    cellId: string,
    event: Promise<CellEvent>,
    signal: AbortSignal | undefined,
  ): Promise<CodeModeResult> => {
    if (signal === undefined || onAbort === 'detach') return codeModeResult(withKept(cellId, await event));
    // One listener: the cell is terminated and the call rejects with the signal's reason.
    const aborted = Promise.withResolvers<never>();
    const stop = (): void => {
      void live.terminate(cellId).catch(() => {});
      aborted.reject(signal.reason);
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    try {
      return codeModeResult(withKept(cellId, await Promise.race([event, aborted.promise])));
    } finally {
      signal.removeEventListener('abort', stop);
    }
  };

  const exec: CodeModeTool<ExecInput> = {
    name: execName,
    description: [
      described.exec.description,
      ...(compact
        ? [
            '',
            `The tools (call ${searchName} for their declarations): ${tools.map((tool) => `tools.${toolIdentifier(tool)}`).join(', ')}`,
          ]
        : []),
    ].join('\n'),
    inputSchema: described.exec.inputSchema,
    outputSchema: RESULT_SCHEMA,
    execute: async (input, options = {}) => {
      const { signal } = options;
      if (input === null || typeof input !== 'object' || typeof input.source !== 'string')
        throw invalidRequest(`${execName}: source must be a string`);
      // Errors name the tool's own parameters (not the runtime's request fields).
      if (
        input.language !== undefined &&
        input.language !== null &&
        !['javascript', 'typescript', 'auto'].includes(input.language)
      ) {
        throw invalidRequest(
          `${execName}: language must be javascript, typescript or auto, got ${JSON.stringify(input.language)}`,
        );
      }
      if (input.source.trim() === '') throw invalidRequest(`${execName}: source is empty`);
      signal?.throwIfAborted();
      const live = await session();
      const request = { source: input.source, language: input.language ?? 'auto' } as const;
      if (onAbort === 'terminate' || signal === undefined) {
        const { cellId, initialEvent } = await live.execute(request, {
          kind: 'yieldAfter',
          ms: yieldMs(input.yield_time_ms),
        });
        return settle(live, cellId, initialEvent, options);
      }
      // Detachable: the initial observation returns at once; the wait is one the signal can end.
      const { cellId, initialEvent } = await live.execute(request, { kind: 'yieldAfter', ms: 0 });
      const first = await initialEvent;
      if (first.kind === 'completed' || first.kind === 'terminated') return codeModeResult(first);
      kept.set(cellId, first.items);
      // Bounded: output of detached cells nobody waits for again is dropped, oldest first.
      if (kept.size > MAX_KEPT_CELLS) kept.delete(kept.keys().next().value as string);
      const { event } = await live.beginObserve(
        cellId,
        { kind: 'yieldAfter', ms: yieldMs(input.yield_time_ms) },
        signal,
      );
      return settle(live, cellId, event, options);
    },
  };

  const wait: CodeModeTool<WaitInput> = {
    name: waitName,
    description: described.wait.description,
    inputSchema: described.wait.inputSchema,
    outputSchema: RESULT_SCHEMA,
    execute: async (input, options = {}) => {
      const { signal } = options;
      if (input === null || typeof input !== 'object' || typeof input.cell_id !== 'string')
        throw invalidRequest(`${waitName}: cell_id must be a string`);
      const live = await session();
      try {
        if (input.terminate === true)
          return codeModeResult(withKept(input.cell_id, await live.terminate(input.cell_id)));
        const { event } = await live.beginObserve(
          input.cell_id,
          { kind: 'yieldAfter', ms: yieldMs(input.yield_time_ms) },
          signal,
        );
        return await settle(live, input.cell_id, event, options);
      } catch (error) {
        if (error instanceof CodeCellError && error.code === 'ERR_MISSING_CELL') {
          throw new CodeCellError(
            'ERR_MISSING_CELL',
            `cell_id ${JSON.stringify(input.cell_id)} is not running: it finished and its result was already returned, or ${execName} never returned it (${messageOf(error)})`,
          );
        }
        throw error;
      }
    },
  };

  const search: CodeModeSearchTool | undefined = compact
    ? {
        name: searchName,
        description: `Returns the TypeScript declarations of the tools whose name or description contains any of the query's words (the ${execName} description lists only their names).`,
        inputSchema: {
          type: 'object',
          properties: { query: { type: 'string', description: 'Words to look for, e.g. "issue create".' } },
          required: ['query'],
          additionalProperties: false,
        },
        execute: async ({ query }) => {
          const words = String(query)
            .toLowerCase()
            .split(/\W+/)
            .filter((word) => word !== '');
          const score = (tool: ToolDefinition): number =>
            words.filter((word) => `${toolIdentifier(tool)} ${tool.description ?? ''}`.toLowerCase().includes(word))
              .length;
          const found = tools
            .filter((tool) => score(tool) > 0)
            .sort((a, b) => score(b) - score(a))
            .slice(0, 20);
          return found.length === 0
            ? `No tool matches ${JSON.stringify(query)}. The tools: ${tools.map((tool) => toolIdentifier(tool)).join(', ')}`
            : renderToolDeclarations(found);
        },
      }
    : undefined;

  return { exec, wait, search, session };
}
