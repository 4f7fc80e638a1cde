// `codecell/openai-agents`: the exec/wait pair as OpenAI Agents SDK function tools, in strict
// mode. `@openai/agents` is an optional peer dependency: install it to use this entry point.
import type { FunctionTool, RunContext, Tool } from '@openai/agents';
import {
  createCodeModeTools,
  requireApproval,
  type JsonValue,
  type NestedToolCall,
  type SessionRuntimeDelegate,
  type ToolDefinition,
  renderCodeModeResult,
  type CodeModeResult,
  type CodeModeTarget,
  type CodeModeTool,
  type CodeModeToolsOptions,
  type WaitInput,
} from '../src/index.js';
import { peerDependency } from './peer.js';
import { WaitApprovals } from './wait-approvals.js';

const agents = await peerDependency(() => import('@openai/agents'), 'codecell/openai-agents', '@openai/agents');
const { getCurrentTrace, tool, withCustomSpan } = agents;

/**
 * `[exec, wait]` for `new Agent({ tools })`: the cells run in `target` (a session, or a
 * SessionBuilder started on first use); each call's result reaches the model as text; an aborted
 * run terminates the cell being waited on. A cell a tool paused (CellInterrupt) goes on through
 * the SDK's approvals: `wait` on it needs approval (the run's `interruptions`); once
 * `state.approve(item)` and the run goes on, the paused call gets `options.approvedAnswer`;
 * rejected, the cell stays paused (`wait` with `terminate` ends it without asking).
 */
export function codeModeTools(target: CodeModeTarget, options: CodeModeToolsOptions = {}): FunctionTool[] {
  const codeMode = createCodeModeTools(target, options);
  const { exec, wait } = codeMode;
  const approvals = new WaitApprovals(codeMode);
  // A rejected approval: the SDK's run context remembers it (with no reason of its own).
  const needsApproval = async (context: RunContext, input: unknown, callId?: string): Promise<boolean> =>
    approvals.needsApproval((input ?? {}) as Partial<WaitInput>, callId, (asked) =>
      context.isToolApproved({ toolName: wait.name, callId: asked }) === false ? {} : undefined,
    );
  const asTool = <Input>(codeTool: CodeModeTool<Input>, gated = false): FunctionTool =>
    tool({
      name: codeTool.name,
      description: codeTool.description,
      parameters: codeTool.inputSchema as never,
      strict: true,
      ...(gated ? { needsApproval } : {}),
      execute: async (input, _context, details) => {
        const run = (): Promise<CodeModeResult> =>
          codeTool.execute(input as Input, {
            ...(details?.signal === undefined ? {} : { signal: details.signal }),
            // The SDK runs a call that needed approval only once it was approved.
            ...(gated ? approvals.decision((input ?? {}) as Partial<WaitInput>) : {}),
          });
        return renderCodeModeResult(
          await (getCurrentTrace() === null ? run() : inCellSpan(codeTool.name, run)),
          wait.name,
        );
      },
    }) as FunctionTool;
  return [asTool(exec), asTool(wait, true)];
}

/**
 * Inside an Agents SDK trace (SPEC §14), each exec or wait is a custom span `codecell <tool>`
 * under the tool's function span, with the cell's id and status (and its error): the agent's trace
 * shows the cell, and the cell's own spans (OpenTelemetry) carry the same `codecell.cell.id`.
 */
function inCellSpan(name: string, run: () => Promise<CodeModeResult>): Promise<CodeModeResult> {
  return withCustomSpan(
    async (span) => {
      const result = await run();
      Object.assign(span.spanData.data, { 'codecell.cell.id': result.cell_id, 'codecell.cell.status': result.status });
      if (result.error !== null) span.setError({ message: result.error });
      return result;
    },
    { data: { name: `codecell ${name}` } },
  );
}

/** Agents SDK function tools as a session's tools: their definitions, and a delegate that runs them. */
export interface AgentsToolSource {
  /** One definition per tool: its name, description and parameters (JSON Schema). */
  readonly tools: ToolDefinition[];
  /** Runs a cell's call with the tool's own `invoke` (the cell's signal as its signal). */
  readonly delegate: Pick<SessionRuntimeDelegate, 'invokeTool'>;
}

/**
 * The function tools an agent already has for the OpenAI Agents SDK (`tool({ name, parameters,
 * execute })`) as tools of a session, so cells call them as `tools.<name>(input)`:
 * `new SessionBuilder().withTools(source.tools, source.delegate)`. Their parameters (JSON Schema,
 * made from zod by the SDK) check each call's input; a call runs the tool as the SDK would
 * (`invoke`, in a RunContext of `context`), so what it answers — its errors too, as the SDK's
 * error function words them — is what the cell gets. Hosted and computer tools are refused: they
 * do not run in this process. Each call's `toolCall` says it came from code (`caller: { type:
 * 'program', callerId: 'cell-<id>' }`); a tool whose `allowedCallers` leaves out 'programmatic' is
 * not offered to cells.
 */
export function agentsToolSource(tools: readonly Tool[], context: unknown = {}): AgentsToolSource {
  if (!Array.isArray(tools)) throw new TypeError('agentsToolSource: give an array of tool({ ... }) function tools');
  const byName = new Map<string, FunctionTool>();
  for (const each of tools) {
    if (each.type !== 'function')
      throw new TypeError(`agentsToolSource: ${each.name} is a ${each.type} tool, not a function tool`);
    // A tool only the model may call directly (allowedCallers without 'programmatic') is not offered.
    const { allowedCallers } = each as { allowedCallers?: readonly string[] };
    if (allowedCallers === undefined || allowedCallers.includes('programmatic')) byName.set(each.name, each);
  }
  return {
    tools: [...byName.values()].map((each) => ({
      name: each.name,
      description: each.description,
      inputSchema: each.parameters as { [key: string]: JsonValue },
    })),
    delegate: {
      invokeTool: async (call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined> => {
        const functionTool = byName.get(call.tool.name);
        if (functionTool === undefined) throw new Error(`no Agents SDK tool ${call.tool.name}`);
        // A tool that needs approval pauses the cell until a person decides (made once approved).
        await requireApproval(call, () =>
          functionTool.needsApproval(new agents.RunContext(context), call.input as never, call.callId),
        );
        const input = JSON.stringify(call.input ?? {});
        // Made by a program: the cell's code (SDK 0.20's caller), named by the cell's id.
        const toolCall = {
          type: 'function_call',
          callId: call.callId,
          name: call.tool.name,
          arguments: input,
          caller: { type: 'program', callerId: `cell-${call.cellId}` },
        } as const;
        return (await functionTool.invoke(new agents.RunContext(context), input, { signal, toolCall })) as JsonValue;
      },
    },
  };
}
