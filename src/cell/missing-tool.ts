// The error of a cell that called a tool it does not have, made helpful: the closest tool names.
import { closestNames } from '../tools/tool-names.js';
import type { CellTool } from './tool-calls.js';

/**
 * V8's "tools.x is not a function" (a tool the cell does not have), with the closest tool names
 * added, or every name when there are few. Any other error (or none) is as it was.
 */
export function hintMissingTool(error: string | undefined, tools: readonly CellTool[]): string | undefined {
  const match = error === undefined ? null : /tools\.([\w$]+) is not a function/.exec(error);
  if (error === undefined || match === null) return error;
  const toolIds = tools.map((tool) => tool.id);
  const missing = match[1] ?? '';
  if (toolIds.length === 0) return error.replace(match[0], `${match[0]} (this cell has no tools)`);
  const [namespace] = missing.split('__');
  const ranked = closestNames(missing, toolIds);
  const close =
    toolIds.length <= 5 ? toolIds : ranked.filter((id, i) => i < 3 || id.startsWith(`${namespace}__`)).slice(0, 5);
  return error.replace(
    match[0],
    `${match[0]} (no such tool; ${toolIds.length <= 5 ? 'the tools are' : 'closest'}: ` +
      `${close.map((id) => `tools.${id}`).join(', ')})`,
  );
}
