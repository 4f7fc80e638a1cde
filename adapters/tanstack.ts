// `codecell/tanstack`: codecell as the sandbox under TanStack AI's Code Mode — an `IsolateDriver`
// for `createCodeModeTool({ driver, tools })` (@tanstack/ai-code-mode). Each context is a codecell
// session whose tools are the driver's bindings (`external_*` functions in the code); each
// execute() is one cell. The types below are TanStack's driver interface, written out so that this
// entry point needs nothing from TanStack at run time (but tanstackToolSource, which loads
// @tanstack/ai's schema converter when it is called: its callers have TanStack's tools).
import { randomUUID } from 'node:crypto';
import type {
  CellLimits,
  CodeCellSession,
  JsonValue,
  Logger,
  NestedToolCall,
  SessionRuntimeDelegate,
  ToolDefinition,
} from '../src/index.js';
import { requireApproval } from '../src/index.js';
import type { HostClient } from '../host/index.js';
import { SessionBuilder } from '../host/tools/session-builder.js';

/** A tool as TanStack's code mode binds it into an isolate context. */
export interface ToolBinding {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown> | undefined;
  // TanStack passes a context of its own (custom events); codecell does not use it.
  execute: (args: unknown, context?: never) => Promise<unknown>;
}

/** What TanStack asks of a new context: its bindings, timeout and memory limit. */
export interface IsolateConfig {
  bindings: Record<string, ToolBinding>;
  timeout?: number;
  memoryLimit?: number;
}

/** TanStack's result of running code: its value or error, and its logs. */
export interface ExecutionResult<T = unknown> {
  success: boolean;
  value?: T;
  error?: { name: string; message: string; stack?: string; code?: string };
  logs?: string[];
}

/** One TanStack isolate context: a codecell session. */
export interface IsolateContext {
  execute: <T = unknown>(code: string) => Promise<ExecutionResult<T>>;
  dispose: () => Promise<void>;
}

/** TanStack's isolate driver interface, implemented over codecell. */
export interface IsolateDriver {
  createContext: (config: IsolateConfig) => Promise<IsolateContext>;
}

/** Where codecellIsolateDriver runs its cells, and their limits. */
export interface CodecellDriverOptions {
  /** Run the cells on codecell-host (default: in this process). */
  host?: HostClient;
  logger?: Logger;
  /** Limits of every cell (memoryMb comes from TanStack's memoryLimit). */
  limits?: Partial<CellLimits>;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** An IsolateDriver whose contexts are codecell sessions. */
export function codecellIsolateDriver(options: CodecellDriverOptions = {}): IsolateDriver {
  return {
    createContext: async ({ bindings, timeout = 30_000, memoryLimit = 128 }) => {
      const names = Object.keys(bindings).filter((name) => IDENTIFIER.test(name));
      const tools = names.map((name) => {
        const binding = bindings[name] as ToolBinding;
        return {
          name,
          description: binding.description,
          inputSchema: binding.inputSchema as JsonValue,
          ...(binding.outputSchema === undefined ? {} : { outputSchema: binding.outputSchema as JsonValue }),
        };
      });
      const session = await new SessionBuilder({
        ...(options.host === undefined ? {} : { host: options.host }),
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      })
        .withTools(tools, {
          invokeTool: async (call) => (await bindings[call.tool.name]?.execute(call.input)) as JsonValue,
        })
        .withLimits({ ...options.limits, memoryMb: memoryLimit })
        .start();
      return {
        execute: <T>(code: string) => executeCode<T>(session, names, code, timeout),
        dispose: () => session.shutdown(),
      };
    },
  };
}

/**
 * Runs TanStack's code in a cell: the code returns its result (TanStack's convention), so it runs
 * as an async function's body, on the cell's first line so that error line numbers stay its own.
 */
async function executeCode<T>(
  session: CodeCellSession,
  names: string[],
  code: string,
  timeout: number,
): Promise<ExecutionResult<T>> {
  const marker = `\u0000codecell-result-${randomUUID()}:`;
  const functions = names.map((name) => `const ${name} = (input) => tools.${name}(input ?? {});`).join(' ');
  const source =
    `${functions} const __result = await (async () => { ${code}\n})(); if (__result ` +
    `!== undefined) text(${JSON.stringify(marker)} + JSON.stringify(__result));`;
  const { cellId, initialEvent } = await session.execute(
    { source, language: 'javascript' },
    { kind: 'yieldAfter', ms: timeout },
  );
  let event = await initialEvent;
  if (event.kind === 'yielded' || event.kind === 'pending') event = await session.terminate(cellId);
  const texts = event.items.flatMap((item) => (item.type === 'text' ? [item.text] : []));
  const logs = texts.filter((text) => !text.startsWith(marker));
  const result = texts.find((text) => text.startsWith(marker));
  if (event.kind === 'terminated') {
    const message = `execution stopped (${event.reason ?? 'terminated'}) after ${timeout} ms`;
    return { success: false, error: { name: 'TimeoutError', message }, logs };
  }
  if (event.kind === 'completed' && event.error !== undefined) {
    const name = /^(\w*Error)\b/.exec(event.error)?.[1] ?? 'Error';
    return { success: false, error: { name, message: event.error }, logs };
  }
  const value = result === undefined ? {} : { value: JSON.parse(result.slice(marker.length)) as T };
  return { success: true, ...value, logs };
}

/** A TanStack AI server tool, as `toolDefinition({ … }).server(fn)` makes it. */
export interface TanStackServerTool {
  name: string;
  description?: string;
  /** A Standard Schema (zod, valibot, …) or a JSON Schema. */
  inputSchema?: unknown;
  /** A call pauses its cell until a person approves it (then it is made) or declines it. */
  needsApproval?: boolean;
  execute?: (args: never, context?: never) => unknown;
}

/** TanStack server tools as a session's tools (SessionBuilder#withTools(source.tools, source.delegate)). */
export interface TanStackToolSource {
  /** One definition per tool: its name, its description, its input as JSON Schema. */
  readonly tools: ToolDefinition[];
  /** Runs a cell's call with the tool's server function. */
  readonly delegate: Pick<SessionRuntimeDelegate, 'invokeTool'>;
}

/**
 * The server tools an agent already has for TanStack AI (`toolDefinition({ … }).server(fn)`) as
 * tools of a codecell session: their schemas converted as TanStack converts them (its
 * `convertSchemaToJsonSchema`, loaded from `@tanstack/ai` when this is called), and each call
 * run by the tool's own server function.
 */
export async function tanstackToolSource(serverTools: readonly TanStackServerTool[]): Promise<TanStackToolSource> {
  if (!Array.isArray(serverTools))
    throw new TypeError('tanstackToolSource: give an array of server tools (toolDefinition(…).server(fn))');
  const { convertSchemaToJsonSchema } = (await import('@tanstack/ai')) as {
    convertSchemaToJsonSchema: (schema: unknown) => Record<string, unknown> | undefined;
  };
  const byName = new Map<string, TanStackServerTool>();
  const tools = serverTools.map((each): ToolDefinition => {
    const { name, description, inputSchema, execute } = each;
    if (typeof name !== 'string' || name === '') throw new TypeError('tanstackToolSource: a tool has no name');
    if (typeof execute !== 'function')
      throw new TypeError(`tanstackToolSource: tool ${name} has no server function (toolDefinition(…).server(fn))`);
    if (byName.has(name)) throw new TypeError(`tanstackToolSource: two tools are named ${name}`);
    byName.set(name, each);
    const schema = inputSchema === undefined ? undefined : convertSchemaToJsonSchema(inputSchema);
    return {
      name,
      ...(description === undefined ? {} : { description }),
      ...(schema === undefined ? {} : { inputSchema: schema as { [key: string]: JsonValue } }),
    };
  });
  return {
    tools,
    delegate: {
      invokeTool: async (call: NestedToolCall): Promise<JsonValue | undefined> => {
        const tool = byName.get(call.tool.name);
        const execute = tool?.execute;
        if (execute === undefined) throw new Error(`no TanStack tool ${call.tool.name}`);
        await requireApproval(call, tool?.needsApproval); // a person decides first
        return (await execute(call.input as never)) as JsonValue | undefined;
      },
    },
  };
}
