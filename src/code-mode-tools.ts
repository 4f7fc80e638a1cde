// The exec/wait tool pair an agent gives its model, framework-neutral: a name, a description with
// the tools' declarations, strict-mode JSON schemas, and execute(input, { signal }) returning a
// result object, plus the rendering of that result as text for the model. The framework adapters
// (codecell/ai-sdk, codecell/openai-agents, codecell/tanstack) wrap these.
import { DEFAULT_YIELD_MS } from './defaults.js';
import { describeExecTool } from './declarations.js';
import { CodeCellError, messageOf } from './errors.js';
import type { CellEvent, CellLanguage, CodeCellSession, JsonValue, ToolDefinition } from './types.js';

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
  /** Runs the tool; when `signal` aborts, exec and wait terminate the cell they were waiting on. */
  execute(input: Input, options?: { signal?: AbortSignal }): Promise<CodeModeResult>;
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
}

export interface CodeModeTools {
  exec: CodeModeTool<ExecInput>;
  wait: CodeModeTool<WaitInput>;
  /** The session (started on first use when the target is a builder). */
  session(): Promise<CodeCellSession>;
}

const nullable = (schema: { [key: string]: JsonValue }, type: string): { [key: string]: JsonValue } => ({ ...schema, type: [type, 'null'] });

const RESULT_SCHEMA: { [key: string]: JsonValue } = {
  type: 'object',
  properties: {
    cell_id: { type: 'string' },
    status: { type: 'string', enum: ['completed', 'failed', 'terminated', 'yielded', 'pending'] },
    output: { type: 'string' },
    images: {
      type: 'array',
      items: { type: 'object', properties: { image_url: { type: 'string' }, detail: { type: ['string', 'null'] } }, required: ['image_url', 'detail'], additionalProperties: false },
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
  const images = event.items.flatMap((item) => (item.type === 'image' ? [{ image_url: item.imageUrl, detail: item.detail ?? null }] : []));
  const base = { cell_id: event.cellId, output, images, error: null, pending_tool_calls: [] };
  switch (event.kind) {
    case 'completed':
      return event.error === undefined ? { ...base, status: 'completed' } : { ...base, status: 'failed', error: event.error };
    case 'terminated':
      return { ...base, status: 'terminated', error: `terminated (${event.reason ?? 'requested'})` };
    case 'pending':
      return { ...base, status: 'pending', pending_tool_calls: event.pendingToolCallIds };
    default:
      return { ...base, status: 'yielded' };
  }
}

/** The result as one text for a model that takes text only (images are counted). */
export function renderCodeModeResult(result: CodeModeResult, waitName = 'wait'): string {
  const lines = result.output === '' ? [] : [result.output];
  if (result.images.length > 0) lines.push(`[${result.images.length} image(s)]`);
  switch (result.status) {
    case 'completed':
      lines.push(`cell ${result.cell_id} completed`);
      break;
    case 'failed':
      lines.push(`cell ${result.cell_id} failed:\n${result.error ?? ''}`);
      break;
    case 'terminated':
      lines.push(`cell ${result.cell_id} was ${result.error ?? 'terminated'}`);
      break;
    case 'pending':
      lines.push(`cell ${result.cell_id} is waiting on ${result.pending_tool_calls.join(', ') || 'timers'}; call ${waitName} with cell_id "${result.cell_id}"`);
      break;
    default:
      lines.push(`cell ${result.cell_id} is still running; call ${waitName} with cell_id "${result.cell_id}"`);
  }
  return lines.join('\n');
}

/** The exec/wait pair over a session (or a builder, started on first use). */
export function createCodeModeTools(target: CodeModeTarget, options: CodeModeToolsOptions = {}): CodeModeTools {
  if (target === null || typeof target !== 'object') throw new CodeCellError('ERR_INVALID_REQUEST', 'createCodeModeTools needs a session or a SessionBuilder');
  const { execName = 'exec', waitName = 'wait', defaultYieldMs = DEFAULT_YIELD_MS } = options;
  const tools = options.tools ?? (target as { tools?: readonly ToolDefinition[] }).tools ?? [];
  let started: Promise<CodeCellSession> | undefined;
  const session = (): Promise<CodeCellSession> => {
    started ??= 'execute' in target ? Promise.resolve(target) : target.start();
    return started;
  };
  const described = describeExecTool(tools, { execName, waitName, defaultYieldMs });
  const yieldMs = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : defaultYieldMs);

  /** Waits for `event`; an abort terminates the cell and rejects with the signal's reason. */
  const settle = async (live: CodeCellSession, cellId: string, event: Promise<CellEvent>, signal: AbortSignal | undefined): Promise<CodeModeResult> => {
    if (signal === undefined) return codeModeResult(await event);
    const onAbort = (): void => void live.terminate(cellId).catch(() => {});
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const outcome = await Promise.race([event, new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))]);
      return codeModeResult(outcome);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  };

  const exec: CodeModeTool<ExecInput> = {
    name: execName,
    description: described.exec.description.replace('Default javascript; typescript strips types first.', 'Default auto.'),
    inputSchema: {
      type: 'object',
      properties: {
        source: { type: 'string', description: 'The code of the cell.' },
        language: nullable({ enum: ['javascript', 'typescript', 'auto', null], description: 'Default auto: TypeScript types are stripped when the cell has any.' }, 'string'),
        yield_time_ms: nullable({ minimum: 0, description: `Return after this many ms even if the cell is still running (default ${defaultYieldMs}).` }, 'integer'),
      },
      required: ['source', 'language', 'yield_time_ms'],
      additionalProperties: false,
    },
    outputSchema: RESULT_SCHEMA,
    execute: async (input, { signal } = {}) => {
      if (input === null || typeof input !== 'object' || typeof input.source !== 'string') throw new TypeError(`${execName}: source must be a string`);
      signal?.throwIfAborted();
      const live = await session();
      const { cellId, initialEvent } = await live.execute({ source: input.source, language: input.language ?? 'auto' }, { kind: 'yieldAfter', ms: yieldMs(input.yield_time_ms) });
      return settle(live, cellId, initialEvent, signal);
    },
  };

  const wait: CodeModeTool<WaitInput> = {
    name: waitName,
    description: described.wait.description,
    inputSchema: {
      type: 'object',
      properties: {
        cell_id: { type: 'string', description: `The cell_id that ${execName} returned.` },
        yield_time_ms: nullable({ minimum: 0, description: `Return after this many ms even if the cell is still running (default ${defaultYieldMs}).` }, 'integer'),
        terminate: nullable({ description: 'Stop the cell instead of waiting.' }, 'boolean'),
      },
      required: ['cell_id', 'yield_time_ms', 'terminate'],
      additionalProperties: false,
    },
    outputSchema: RESULT_SCHEMA,
    execute: async (input, { signal } = {}) => {
      if (input === null || typeof input !== 'object' || typeof input.cell_id !== 'string') throw new TypeError(`${waitName}: cell_id must be a string`);
      const live = await session();
      try {
        if (input.terminate === true) return codeModeResult(await live.terminate(input.cell_id));
        const { event } = await live.beginObserve(input.cell_id, { kind: 'yieldAfter', ms: yieldMs(input.yield_time_ms) }, signal);
        return await settle(live, input.cell_id, event, signal);
      } catch (error) {
        if (error instanceof CodeCellError && error.code === 'ERR_MISSING_CELL') {
          throw new CodeCellError('ERR_MISSING_CELL', `cell_id ${JSON.stringify(input.cell_id)} is not running: it finished and its result was already returned, or ${execName} never returned it (${messageOf(error)})`);
        }
        throw error;
      }
    },
  };

  return { exec, wait, session };
}
