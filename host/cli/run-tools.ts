// `codecell run --tools`: the tools a cell run from the command line gets — none, canned results
// from a JSON file of definitions, or a module's own `{ tools, delegate }`.
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { JsonValue, SessionRuntimeDelegate, ToolDefinition } from '../../src/index.js';

export class UsageError extends Error {}

/** The tools of a run and the delegate that answers them. */
export interface ToolSetup {
  tools: ToolDefinition[];
  delegate: SessionRuntimeDelegate;
}

/** Canned tools: each definition may carry a `result` the tool returns. */
function cannedTools(definitions: unknown): ToolSetup {
  if (!Array.isArray(definitions)) throw new UsageError('--tools JSON must be an array of tool definitions');
  const results = new Map<string, JsonValue>();
  const tools = definitions.map((definition: Record<string, unknown>) => {
    const { result, ...tool } = definition;
    if (typeof tool.name === 'string') results.set(tool.name, (result ?? null) as JsonValue);
    return tool as unknown as ToolDefinition;
  });
  return {
    tools,
    delegate: {
      invokeTool: async (call) => {
        if (!results.has(call.tool.name)) throw new Error(`no canned result for ${call.tool.name}`);
        return results.get(call.tool.name) ?? null;
      },
      notify: async () => {},
    },
  };
}

/** The tools `--tools` names (`path`), or none. */
export async function loadTools(path: string | undefined): Promise<ToolSetup> {
  if (path === undefined)
    return {
      tools: [],
      delegate: {
        invokeTool: async (call) => {
          throw new Error(`no tool ${call.tool.name}`);
        },
        notify: async () => {},
      },
    };
  const absolute = resolve(path);
  if (extname(absolute) === '.json') return cannedTools(JSON.parse(await readFile(absolute, 'utf8')));
  const loaded = (await import(pathToFileURL(absolute).href)) as { default?: Partial<ToolSetup> } & Partial<ToolSetup>;
  const setup = loaded.delegate !== undefined ? loaded : loaded.default;
  const delegate = setup?.delegate as Partial<SessionRuntimeDelegate> | undefined;
  if (delegate === undefined || typeof delegate.invokeTool !== 'function')
    throw new UsageError(`${path} must export { tools, delegate } with delegate.invokeTool`);
  // notify and cellClosed are optional here: a tools module is usually just tools.
  return {
    tools: setup?.tools ?? [],
    delegate: {
      invokeTool: (call, signal) =>
        (delegate.invokeTool as SessionRuntimeDelegate['invokeTool']).call(delegate, call, signal),
      notify: async (notification, signal) => delegate.notify?.call(delegate, notification, signal),
      cellClosed: async (cellId) => delegate.cellClosed?.call(delegate, cellId),
    },
  };
}
