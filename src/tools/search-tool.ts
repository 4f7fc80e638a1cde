// The third tool of a long tool list: exec's description then names the tools only, and this one
// returns the declarations of those a query asks for.
import type { JsonValue, ToolDefinition } from '../types.js';
import { renderToolDeclarations } from './declarations.js';
import { toolIdentifier } from './tool-names.js';

/** The search tool: declarations of the tools matching a query. */
export interface CodeModeSearchTool {
  name: string;
  description: string;
  inputSchema: { [key: string]: JsonValue };
  execute(input: { query: string }): Promise<string>;
}

/** The search tool: declarations of the tools whose name or description has one of the query's words. */
export function searchTool(tools: readonly ToolDefinition[], searchName: string, execName: string): CodeModeSearchTool {
  return {
    name: searchName,
    description:
      `Returns the TypeScript declarations of the tools whose name or description ` +
      `contains any of the query's words (the ${execName} description lists only their names).`,
    inputSchema: {
      type: 'object',
      properties: { query: { type: 'string', description: 'Words to look for, e.g. "issue create".' } },
      required: ['query'],
      additionalProperties: false,
    },
    execute: async ({ query }) => {
      const words = String(query)
        .toLowerCase()
        .split(/\W+/)
        .filter((word) => word !== '');
      const score = (tool: ToolDefinition): number =>
        words.filter((word) => `${toolIdentifier(tool)} ${tool.description ?? ''}`.toLowerCase().includes(word)).length;
      const found = tools
        .filter((tool) => score(tool) > 0)
        .sort((a, b) => score(b) - score(a))
        .slice(0, 20);
      return found.length === 0
        ? `No tool matches ${JSON.stringify(query)}. The tools: ${tools.map((tool) => toolIdentifier(tool)).join(', ')}`
        : renderToolDeclarations(found);
    },
  };
}
