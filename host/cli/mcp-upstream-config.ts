// Where the upstreams of `codecell mcp` come from: `--upstream [name=]"<command>"` and
// `--upstream name=<url>` specs, and config files in the format MCP clients use
// ({ "mcpServers": { name: … } }, with codecell's own `requiresApproval`), checked as they are read.
import { readFile } from 'node:fs/promises';
import { messageOf } from '../../src/internal.js';
import type { McpServerConfig } from '../tools/mcp-config.js';

/** Splits a command line on spaces, keeping "quoted" and 'quoted' parts together. */
export function splitCommand(command: string): string[] {
  const parts = command.match(/"[^"]*"|'[^']*'|\S+/g) ?? [];
  return parts.map((part) => (/^(["']).*\1$/.test(part) ? part.slice(1, -1) : part));
}

/** `name=spec`, or a bare command line (named later, after the server's own name). */
export function upstreamOf(spec: string, index: number): McpServerConfig & { named: boolean } {
  const named = /^([A-Za-z_][\w-]*)=(.*)$/s.exec(spec);
  const name = named?.[1] ?? `server${index + 1}`;
  const rest = (named?.[2] ?? spec).trim();
  if (/^https?:\/\//.test(rest)) return { name, url: rest, named: true };
  const [command, ...args] = splitCommand(rest);
  if (command === undefined) throw new Error(`--upstream ${JSON.stringify(spec)} has no command`);
  return { name, command, args, named: named !== null };
}

/** The upstreams of a config file in the format MCP clients use (`{ "mcpServers": { … } }`). */
export async function configFile(path: string): Promise<McpServerConfig[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read --config ${path}: ${messageOf(error)}`, { cause: error });
  }
  let parsed: { mcpServers?: Record<string, unknown> } | null;
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (error) {
    throw new Error(`--config ${path} is not JSON: ${messageOf(error)}`, { cause: error });
  }
  if (
    parsed === null ||
    typeof parsed !== 'object' ||
    parsed.mcpServers === null ||
    typeof parsed.mcpServers !== 'object'
  )
    throw new Error(`${path} has no "mcpServers" object`);
  return Object.entries(parsed.mcpServers).map(([name, entry]) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry))
      throw new Error(
        `${path}: server ${name} must be an object with a "command" or a "url", got ${JSON.stringify(entry)}`,
      );
    const server = entry as Record<string, unknown>;
    if (typeof server.url === 'string')
      return {
        name,
        url: server.url,
        ...(server.headers === undefined ? {} : { headers: server.headers as Record<string, string> }),
        ...approvalOf(server, name, path),
      };
    if (typeof server.command !== 'string') throw new Error(`${path}: server ${name} needs a "command" or a "url"`);
    return {
      name,
      command: server.command,
      args: (server.args as string[] | undefined) ?? [],
      ...(server.env === undefined ? {} : { env: server.env as Record<string, string> }),
      ...(typeof server.cwd === 'string' ? { cwd: server.cwd } : {}),
      ...approvalOf(server, name, path),
    };
  });
}

/** A server entry's `requiresApproval`: true, or the names of its tools whose calls need approval. */
function approvalOf(
  server: Record<string, unknown>,
  name: string,
  path: string,
): { requiresApproval?: boolean | string[] } {
  const { requiresApproval } = server;
  if (requiresApproval === undefined) return {};
  const names = Array.isArray(requiresApproval) && requiresApproval.every((tool) => typeof tool === 'string');
  if (typeof requiresApproval !== 'boolean' && !names)
    throw new Error(`${path}: server ${name}: "requiresApproval" must be true, false or a list of tool names`);
  return { requiresApproval: requiresApproval as boolean | string[] };
}
