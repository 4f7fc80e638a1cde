// `codecell/ai-sdk`: the exec/wait pair as Vercel AI SDK tools (`ai`'s tool() and jsonSchema()).
// `ai` is an optional peer dependency: install it to use this entry point.
import type { ModelMessage, Tool, ToolSet } from 'ai';
import {
  createCodeModeTools,
  describePause,
  requireApproval,
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
import { peerDependency } from './peer.js';
import { WaitApprovals } from './wait-approvals.js';

const { asSchema, jsonSchema, tool } = await peerDependency(() => import('ai'), 'codecell/ai-sdk', 'ai');

/** The AI SDK's tool context (not exported by `ai`). */
type Context = Record<string, unknown>;

/**
 * One tool of the pair as an AI SDK tool; the SDK's abort signal reaches the cell. `approvals`
 * (wait's): a wait on a cell paused at a call that needs approval needs the SDK's approval;
 * approved (only then does the SDK run it), the call is made; denied, the call is declined
 * (the cell hears the decline) on the next wait.
 */
function asTool<Input>(codeTool: CodeModeTool<Input>, approvals?: WaitApprovals): Tool<Input, CodeModeResult> {
  const needsApproval = (input: Input, { toolCallId, messages }: { toolCallId: string; messages: ModelMessage[] }) =>
    approvals?.needsApproval(input as Partial<WaitInput>, toolCallId, (asked) => denialOf(messages, asked)) ?? false;
  return tool<Input, CodeModeResult, Context>({
    description: codeTool.description,
    inputSchema: jsonSchema<Input>(codeTool.inputSchema as never),
    outputSchema: jsonSchema<CodeModeResult>(codeTool.outputSchema as never),
    // (The SDK types the function's input through a conditional type a generic Input cannot meet.)
    ...(approvals === undefined ? {} : { needsApproval: needsApproval as never }),
    execute: (input, { abortSignal }) =>
      codeTool.execute(input, {
        ...(abortSignal === undefined ? {} : { signal: abortSignal }),
        ...approvals?.decision(input as Partial<WaitInput>),
      }),
  });
}

/** The person's denial of the SDK's approval request for tool call `toolCallId`, if they denied it. */
function denialOf(messages: readonly ModelMessage[], toolCallId: string): { reason?: string } | undefined {
  type Part = { type?: unknown; toolCallId?: unknown; approvalId?: unknown; approved?: unknown; reason?: unknown };
  const parts = messages.flatMap((message): Part[] => (Array.isArray(message.content) ? message.content : []));
  const request = parts.find((part) => part.type === 'tool-approval-request' && part.toolCallId === toolCallId);
  if (request === undefined) return undefined;
  const response = parts.find(
    (part) => part.type === 'tool-approval-response' && part.approvalId === request.approvalId,
  );
  if (response === undefined || response.approved !== false) return undefined;
  return typeof response.reason === 'string' ? { reason: response.reason } : {};
}

/**
 * `{ exec, wait }` for `generateText({ tools })` / `streamText`: the cells run in `target` (a
 * session, or a SessionBuilder started on first use); the AI SDK's abort signal terminates the
 * cell being waited on. Spread it into `tools` (the names come from `options`). A cell a tool
 * paused (CellInterrupt) goes on through the SDK's tool approval: `wait` on it needs approval
 * (a `tool-approval-request`); approved, the paused call gets `options.approvedAnswer`; denied,
 * the next `wait` declines the call (the cell hears the decline and goes on); `wait` with
 * `terminate` ends the cell without asking.
 */
export function codeModeTools(target: CodeModeTarget, options: CodeModeToolsOptions = {}): AiSdkCodeModeTools {
  const codeMode = createCodeModeTools(target, options);
  const { exec, wait } = codeMode;
  const approvals = new WaitApprovals(codeMode);
  // The keys are the names the model sees.
  const tools: AiSdkCodeModeTools = { [exec.name]: asTool(exec), [wait.name]: asTool(wait, approvals) };
  approvalsOf.set(tools, { waitName: wait.name, approvals });
  return tools;
}

const approvalsOf = new WeakMap<object, { waitName: string; approvals: WaitApprovals }>();

/** What codeModeToolApproval's function says of one wait call: ask the user (and why), or not. */
export type CodeModeApprovalStatus = { type: 'user-approval'; reason: string } | { type: 'not-applicable' };

/**
 * generateText's `toolApproval` for the pair codeModeTools made (spread it into yours): the
 * tool-approval-request for a wait on a paused cell then names the call it is about in its
 * `reason` — `A cell wants to call tools.deleteAccount({"id":1})` — which the tools' own
 * needsApproval (a yes or no) cannot.
 */
export function codeModeToolApproval(
  tools: AiSdkCodeModeTools,
): Record<
  string,
  (input: unknown, options: { toolCallId: string; messages: ModelMessage[] }) => CodeModeApprovalStatus
> {
  const found = approvalsOf.get(tools);
  if (found === undefined) throw new TypeError('codeModeToolApproval: give the tools codeModeTools made');
  const { waitName, approvals } = found;
  return {
    [waitName]: (input, { toolCallId, messages }) => {
      const waited = (input ?? {}) as Partial<WaitInput>;
      const pause = approvals.pauseOf(waited);
      const asks = approvals.needsApproval(waited, toolCallId, (asked) => denialOf(messages, asked));
      return asks && pause !== undefined
        ? { type: 'user-approval', reason: describePause(pause) }
        : { type: 'not-applicable' };
    },
  };
}

/** What codeModeTools returns: the two AI SDK tools, keyed by their names (exec and wait by default). */
export type AiSdkCodeModeTools = Record<string, Tool<ExecInput, CodeModeResult> | Tool<WaitInput, CodeModeResult>>;

/** Which tools cells may call, as the AI SDK says it. */
export interface AiSdkToolSourceOptions {
  /**
   * generateText's `experimental_toolCallers`: the callers each tool allows. A tool listed here
   * without `callerName` (code, through exec) is left out: cells cannot call it, and the
   * declarations the model reads leave it out.
   */
  toolCallers?: Readonly<Record<string, readonly string[] | undefined>>;
  /** The name of the exec tool, as a caller (default 'exec'). */
  callerName?: string;
}

/** An AI SDK tool set as a session's tools: their definitions, and a delegate that runs them. */
export interface AiSdkToolSource {
  /** One definition per tool: its key as the name, its description, its input (and output) as JSON Schema. */
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
export async function aiSdkToolSource(
  toolSet: ToolSet,
  context: unknown = {},
  options: AiSdkToolSourceOptions = {},
): Promise<AiSdkToolSource> {
  if (toolSet === null || typeof toolSet !== 'object')
    throw new TypeError('aiSdkToolSource: give a tool set ({ name: tool({ ... }) })');
  const { toolCallers, callerName = 'exec' } = options;
  // A tool whose callers (generateText's experimental_toolCallers) leave out code is not offered.
  const entries = Object.entries(toolSet).filter(([name]) => toolCallers?.[name]?.includes(callerName) ?? true);
  const tools = await Promise.all(
    entries.map(async ([name, each]): Promise<ToolDefinition> => {
      if (typeof each.execute !== 'function') throw new TypeError(`aiSdkToolSource: tool ${name} has no execute`);
      const inputSchema = (await asSchema(each.inputSchema).jsonSchema) as { [key: string]: JsonValue };
      // Its declared output types the result in the declarations the model reads.
      const outputSchema =
        each.outputSchema === undefined ? undefined : ((await asSchema(each.outputSchema).jsonSchema) as JsonValue);
      // A description may be a function of the tool's context.
      const description =
        typeof each.description === 'function' ? each.description({ context } as never) : each.description;
      return {
        name,
        ...(description === undefined ? {} : { description }),
        inputSchema,
        ...(outputSchema === undefined ? {} : { outputSchema }),
      };
    }),
  );
  const byName = new Map(entries);
  return {
    tools,
    delegate: {
      invokeTool: async (call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined> => {
        const each = byName.get(call.tool.name);
        const execute = each?.execute;
        if (execute === undefined) throw new Error(`no AI SDK tool ${call.tool.name}`);
        // A tool that needs approval pauses the cell until a person decides (made once approved).
        const { needsApproval } = each as { needsApproval?: boolean | ((input: unknown, options: object) => unknown) };
        await requireApproval(
          call,
          typeof needsApproval === 'function'
            ? async () => (await needsApproval(call.input, { toolCallId: call.callId, messages: [], context })) === true
            : needsApproval,
        );
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
