// `codecell/ai-sdk`: the exec/wait pair as Vercel AI SDK tools (`ai`'s tool() and jsonSchema()).
// `ai` is an optional peer dependency: install it to use this entry point.
import { jsonSchema, tool, type Tool } from 'ai';
import {
  createCodeModeTools,
  type CodeModeResult,
  type CodeModeTarget,
  type CodeModeTool,
  type CodeModeToolsOptions,
  type ExecInput,
  type WaitInput,
} from '../src/index.js';

/** The AI SDK's tool context (not exported by `ai`). */
type Context = Record<string, unknown>;

/** One tool of the pair as an AI SDK tool; the SDK's abort signal reaches the cell. */
function asTool<Input>(codeTool: CodeModeTool<Input>): Tool<Input, CodeModeResult> {
  return tool<Input, CodeModeResult, Context>({
    description: codeTool.description,
    inputSchema: jsonSchema<Input>(codeTool.inputSchema as never),
    outputSchema: jsonSchema<CodeModeResult>(codeTool.outputSchema as never),
    execute: (input, { abortSignal }) =>
      codeTool.execute(input, abortSignal === undefined ? {} : { signal: abortSignal }),
  });
}

/**
 * `{ exec, wait }` for `generateText({ tools })` / `streamText`: the cells run in `target` (a
 * session, or a SessionBuilder started on first use); the AI SDK's abort signal terminates the
 * cell being waited on. Spread it into `tools` (the names come from `options`).
 */
export function codeModeTools(target: CodeModeTarget, options: CodeModeToolsOptions = {}): AiSdkCodeModeTools {
  const { exec, wait } = createCodeModeTools(target, options);
  // The keys are the names the model sees.
  return { [exec.name]: asTool(exec), [wait.name]: asTool(wait) };
}

/** What codeModeTools returns: the two AI SDK tools, keyed by their names (exec and wait by default). */
export type AiSdkCodeModeTools = Record<string, Tool<ExecInput, CodeModeResult> | Tool<WaitInput, CodeModeResult>>;
