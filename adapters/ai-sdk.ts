// `codecell/ai-sdk`: the exec/wait pair as Vercel AI SDK tools (`ai`'s tool() and jsonSchema()).
// `ai` is an optional peer dependency: install it to use this entry point.
import { jsonSchema, tool } from 'ai';
import { createCodeModeTools, type CodeModeResult, type CodeModeTarget, type CodeModeToolsOptions, type ExecInput, type WaitInput } from '../src/index.js';

/** The AI SDK's tool context (not exported by `ai`). */
type Context = Record<string, unknown>;

/**
 * `{ exec, wait }` for `generateText({ tools })` / `streamText`: the cells run in `target` (a
 * session, or a SessionBuilder started on first use); the AI SDK's abort signal terminates the
 * cell being waited on. Spread it into `tools` (the names come from `options`).
 */
export function codeModeTools(target: CodeModeTarget, options: CodeModeToolsOptions = {}) {
  const { exec, wait } = createCodeModeTools(target, options);
  return {
    exec: tool<ExecInput, CodeModeResult, Context>({
      description: exec.description,
      inputSchema: jsonSchema<ExecInput>(exec.inputSchema as never),
      outputSchema: jsonSchema<CodeModeResult>(exec.outputSchema as never),
      execute: (input, { abortSignal }) => exec.execute(input, abortSignal === undefined ? {} : { signal: abortSignal }),
    }),
    wait: tool<WaitInput, CodeModeResult, Context>({
      description: wait.description,
      inputSchema: jsonSchema<WaitInput>(wait.inputSchema as never),
      outputSchema: jsonSchema<CodeModeResult>(wait.outputSchema as never),
      execute: (input, { abortSignal }) => wait.execute(input, abortSignal === undefined ? {} : { signal: abortSignal }),
    }),
  };
}

/** What codeModeTools returns: `{ exec, wait }`, AI SDK tools. */
export type AiSdkCodeModeTools = ReturnType<typeof codeModeTools>;
