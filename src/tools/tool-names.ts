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

/** Edit distance (for naming the tools close to one that is not there). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row.push(
        Math.min(
          (previous[j] ?? 0) + 1,
          (row[j - 1] ?? 0) + 1,
          (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
        ),
      );
    previous = row;
  }
  return previous[b.length] ?? 0;
}

/** `names` from the closest to `name` to the farthest (by edit distance; ties as given). */
export function closestNames(name: string, names: readonly string[]): string[] {
  return [...names].sort((a, b) => distance(name, a) - distance(name, b));
}
