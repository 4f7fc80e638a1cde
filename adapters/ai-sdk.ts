// `codecell/ai-sdk`: the exec/wait pair as Vercel AI SDK tools (`ai`'s tool() and jsonSchema()).
// `ai` is an optional peer dependency: install it to use this entry point.
import { asSchema, jsonSchema, tool, type Tool, type ToolSet } from 'ai';
import {
  createCodeModeTools,
  type JsonValue,
  type NestedToolCall,
  type SessionRuntimeDelegate,
  type ToolDefinition,
  type CodeModeResult,
  type CodeModeTarget,
  type CodeModeTool,
  type CodeModeToolsOptions,
  type ExecInput,
  type WaitInput,
} from '../src/index.js';

/** The AI SDK's tool context (not exported by `ai`). */
type Context = Record<string, unknown>;

/**
 * One tool of the pair as an AI SDK tool; the SDK's abort signal reaches the cell. `pausedBy`
 * (wait's): the call waits on a cell a tool paused — it needs the SDK's approval, and once
 * approved (only then does the SDK run it) the cell goes on.
 */
function asTool<Input>(
  codeTool: CodeModeTool<Input>,
  pausedBy?: (input: Input) => boolean,
): Tool<Input, CodeModeResult> {
  return tool<Input, CodeModeResult, Context>({
    description: codeTool.description,
    inputSchema: jsonSchema<Input>(codeTool.inputSchema as never),
    outputSchema: jsonSchema<CodeModeResult>(codeTool.outputSchema as never),
    // (The SDK types the function's input through a conditional type a generic Input cannot meet.)
    ...(pausedBy === undefined ? {} : { needsApproval: ((input: Input) => pausedBy(input)) as never }),
    execute: (input, { abortSignal }) =>
      codeTool.execute(input, {
        ...(abortSignal === undefined ? {} : { signal: abortSignal }),
        ...(pausedBy?.(input) === true ? { approved: true } : {}),
      }),
  });
}

/**
 * `{ exec, wait }` for `generateText({ tools })` / `streamText`: the cells run in `target` (a
 * session, or a SessionBuilder started on first use); the AI SDK's abort signal terminates the
 * cell being waited on. Spread it into `tools` (the names come from `options`). A cell a tool
 * paused (CellInterrupt) goes on through the SDK's tool approval: `wait` on it needs approval
 * (a `tool-approval-request`); approved, the paused call gets `options.approvedAnswer`; denied,
 * the cell stays paused (`wait` with `terminate` ends it without asking).
 */
export function codeModeTools(target: CodeModeTarget, options: CodeModeToolsOptions = {}): AiSdkCodeModeTools {
  const codeMode = createCodeModeTools(target, options);
  const { exec, wait } = codeMode;
  const paused = (input: WaitInput): boolean =>
    input.terminate !== true && codeMode.paused(input.cell_id) !== undefined;
  // The keys are the names the model sees.
  return { [exec.name]: asTool(exec), [wait.name]: asTool(wait, paused) };
}

/** What codeModeTools returns: the two AI SDK tools, keyed by their names (exec and wait by default). */
export type AiSdkCodeModeTools = Record<string, Tool<ExecInput, CodeModeResult> | Tool<WaitInput, CodeModeResult>>;

/** An AI SDK tool set as a session's tools: their definitions, and a delegate that runs them. */
export interface AiSdkToolSource {
  /** One definition per tool: its key as the name, its description, its input as JSON Schema. */
  readonly tools: ToolDefinition[];
  /** Runs a cell's call with the tool's `execute` (the cell's signal as its `abortSignal`). */
  readonly delegate: Pick<SessionRuntimeDelegate, 'invokeTool'>;
}

/**
 * The tools an agent already has for the AI SDK (a `ToolSet`: `{ name: tool({ … }) }`) as tools
 * of a session, so cells call them as `tools.<name>(input)`:
 * `new SessionBuilder().withTools(source.tools, source.delegate)`, or a SessionRuntime's `tools`
 * and delegate. Each input schema (zod, `jsonSchema()`, …) becomes JSON Schema, which the session
 * checks every call's input against; a tool without `execute` is refused (the session has no way
 * to run it). A tool that streams (an async iterable) gives the cell its last value. `context` is
 * what the tools get as their context (and a description that is a function of it).
 */
export async function aiSdkToolSource(toolSet: ToolSet, context: unknown = {}): Promise<AiSdkToolSource> {
  if (toolSet === null || typeof toolSet !== 'object')
    throw new TypeError('aiSdkToolSource: give a tool set ({ name: tool({ ... }) })');
  const entries = Object.entries(toolSet);
  const tools = await Promise.all(
    entries.map(async ([name, each]): Promise<ToolDefinition> => {
      if (typeof each.execute !== 'function') throw new TypeError(`aiSdkToolSource: tool ${name} has no execute`);
      const inputSchema = (await asSchema(each.inputSchema).jsonSchema) as { [key: string]: JsonValue };
      // A description may be a function of the tool's context.
      const description =
        typeof each.description === 'function' ? each.description({ context } as never) : each.description;
      return { name, ...(description === undefined ? {} : { description }), inputSchema };
    }),
  );
  const byName = new Map(entries);
  return {
    tools,
    delegate: {
      invokeTool: async (call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined> => {
        const execute = byName.get(call.tool.name)?.execute;
        if (execute === undefined) throw new Error(`no AI SDK tool ${call.tool.name}`);
        const options = { toolCallId: call.callId, messages: [], abortSignal: signal, context };
        const result: unknown = await execute(call.input, options as never);
        return (isAsyncIterable(result) ? await lastOf(result) : result) as JsonValue | undefined;
      },
    },
  };
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  value !== null && typeof value === 'object' && Symbol.asyncIterator in value;

async function lastOf(values: AsyncIterable<unknown>): Promise<unknown> {
  let last: unknown;
  for await (const value of values) last = value;
  return last;
}
