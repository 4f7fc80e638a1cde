// `codecell/openai-agents`: the exec/wait pair as OpenAI Agents SDK function tools, in strict
// mode. `@openai/agents` is an optional peer dependency: install it to use this entry point.
import { tool, type FunctionTool } from '@openai/agents';
import { createCodeModeTools, renderCodeModeResult, type CodeModeTarget, type CodeModeToolsOptions, type ExecInput, type WaitInput } from '../src/index.js';

/**
 * `[exec, wait]` for `new Agent({ tools })`: the cells run in `target` (a session, or a
 * SessionBuilder started on first use); each call's result reaches the model as text; an aborted
 * run terminates the cell being waited on.
 */
export function codeModeTools(target: CodeModeTarget, options: CodeModeToolsOptions = {}): FunctionTool[] {
  const { exec, wait } = createCodeModeTools(target, options);
  const waitName = wait.name;
  return [
    tool({
      name: exec.name,
      description: exec.description,
      parameters: exec.inputSchema as never,
      strict: true,
      execute: async (input, _context, details) => renderCodeModeResult(await exec.execute(input as ExecInput, details?.signal === undefined ? {} : { signal: details.signal }), waitName),
    }),
    tool({
      name: wait.name,
      description: wait.description,
      parameters: wait.inputSchema as never,
      strict: true,
      execute: async (input, _context, details) => renderCodeModeResult(await wait.execute(input as WaitInput, details?.signal === undefined ? {} : { signal: details.signal }), waitName),
    }),
  ] as FunctionTool[];
}
