import type { ToolDefinition } from '../types.js';

/**
 * The identifier a tool has inside a cell (`tools.<id>`): `namespace__name`, with every character
 * outside [A-Za-z0-9_$] replaced by `_`, and a leading digit prefixed by `_`. The sandbox and the
 * declaration renderer both use this one function.
 */
export function toolIdentifier(tool: Pick<ToolDefinition, 'name' | 'namespace'>): string {
  const raw = tool.namespace === undefined ? tool.name : `${tool.namespace}__${tool.name}`;
  const id = raw.replace(/[^A-Za-z0-9_$]/g, '_');
  return /^[0-9]/.test(id) ? `_${id}` : id;
}
