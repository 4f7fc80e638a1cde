// `codecell/openai-agents`: the exec/wait pair as OpenAI Agents SDK function tools, in strict
// mode. `@openai/agents` is an optional peer dependency: install it to use this entry point.
import { tool, type FunctionTool } from '@openai/agents';
import {
  createCodeModeTools,
  renderCodeModeResult,
  type CodeModeTarget,
  type CodeModeTool,
  type CodeModeToolsOptions,
} from '../src/index.js';

/**
 * `[exec, wait]` for `new Agent({ tools })`: the cells run in `target` (a session, or a
 * SessionBuilder started on first use); each call's result reaches the model as text; an aborted
 * run terminates the cell being waited on.
 */
export function codeModeTools(target: CodeModeTarget, options: CodeModeToolsOptions = {}): FunctionTool[] {
  const { exec, wait } = createCodeModeTools(target, options);
  const asTool = <Input>(codeTool: CodeModeTool<Input>): FunctionTool =>
    tool({
      name: codeTool.name,
      description: codeTool.description,
      parameters: codeTool.inputSchema as never,
      strict: true,
      execute: async (input, _context, details) =>
        renderCodeModeResult(
          await codeTool.execute(input as Input, details?.signal === undefined ? {} : { signal: details.signal }),
          wait.name,
        ),
    }) as FunctionTool;
  return [asTool(exec), asTool(wait)];
}
