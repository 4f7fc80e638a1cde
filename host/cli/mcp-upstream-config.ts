// Where the upstreams of `codecell mcp` come from: `--upstream [name=]"<command>"` and
// `--upstream name=<url>` specs, and config files in the format MCP clients use
// ({ "mcpServers": { name: … } }, with codecell's own `requiresApproval`), checked as they are read.
import { readFile } from 'node:fs/promises';
import { messageOf } from '../../src/internal.js';
import type { McpHttpAuth, McpServerConfig } from '../tools/mcp-config.js';

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
  const entries = await serverEntries(path);
  return Promise.all(
    entries.map(async ([name, server]) =>
      server.auth === undefined || typeof server.url !== 'string'
        ? upstreamEntry(name, server, path)
        : { ...upstreamEntry(name, server, path), auth: await authEntry(server.auth, name, path) },
    ),
  );
}

/** The config file's servers, each an object. */
async function serverEntries(path: string): Promise<[string, Record<string, unknown>][]> {
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
    return [name, entry as Record<string, unknown>];
  });
}

/** One server of the config file, but its auth. */
function upstreamEntry(name: string, server: Record<string, unknown>, path: string): McpServerConfig {
  if (server.auth !== undefined && typeof server.url !== 'string')
    throw new Error(`${path}: server ${name}: "auth" is for a server with a "url"`);
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
}

/**
 * A server's `"auth"`: `{ "type": "bearer", "token" }`, `{ "type": "client_credentials",
 * "clientId", "clientSecret" }`, `{ "type": "private_key_jwt", "clientId", "privateKeyFile",
 * "algorithm" }` or `{ "type": "authorization_code" }` (a person signs in; `"clientId"`,
 * `"clientSecret"`, `"redirectPort"` optional), each with `"issuer"`, `"scope"`, `"tokenFile"`; a
 * secret may come from the environment instead (`"tokenEnv"`, `"clientSecretEnv"`).
 */
async function authEntry(auth: unknown, name: string, path: string): Promise<McpHttpAuth> {
  const where = `${path}: server ${name}: "auth"`;
  if (auth === null || typeof auth !== 'object' || Array.isArray(auth)) throw new Error(`${where} must be an object`);
  const entry = auth as Record<string, unknown>;
  const text = (field: string, optional = false): string | undefined => {
    const value = entry[field];
    if (value === undefined && optional) return undefined;
    if (typeof value !== 'string' || value === '') throw new Error(`${where}.${field} must be a non-empty string`);
    return value;
  };
  /** A secret given as is, or by the name of the environment variable that holds it. */
  const secret = (field: string): string => {
    const variable = text(`${field}Env`, true);
    if (variable === undefined) return text(field) as string;
    const value = process.env[variable];
    if (value === undefined || value === '') throw new Error(`${where}.${field}Env: ${variable} is not set`);
    return value;
  };
  const optional = Object.fromEntries(
    (['issuer', 'scope', 'tokenFile'] as const).flatMap((field) => {
      const value = text(field, true);
      return value === undefined ? [] : [[field, value]];
    }),
  ) as { issuer?: string; scope?: string; tokenFile?: string };
  const types = ['bearer', 'client_credentials', 'private_key_jwt', 'authorization_code'];
  if (!types.includes(entry.type as string))
    throw new Error(`${where}.type must be ${types.map((type) => `"${type}"`).join(', ')}`);
  if (entry.type === 'bearer') return { type: 'bearer', token: secret('token') };
  if (entry.type === 'authorization_code') {
    const port = entry.redirectPort;
    if (port !== undefined && (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65_535))
      throw new Error(`${where}.redirectPort must be a port number`);
    const clientId = text('clientId', true);
    const hasSecret = entry.clientSecret !== undefined || entry.clientSecretEnv !== undefined;
    return {
      type: 'authorization_code',
      ...(clientId === undefined ? {} : { clientId }),
      ...(hasSecret ? { clientSecret: secret('clientSecret') } : {}),
      ...(port === undefined ? {} : { redirectPort: port as number }),
      ...optional,
    };
  }
  const clientId = text('clientId') as string;
  if (entry.type === 'client_credentials')
    return { type: 'client_credentials', clientId, clientSecret: secret('clientSecret'), ...optional };
  const file = text('privateKeyFile') as string;
  let privateKey: string;
  try {
    privateKey = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`${where}.privateKeyFile: cannot read ${file}: ${messageOf(error)}`, { cause: error });
  }
  return { type: 'private_key_jwt', clientId, privateKey, algorithm: text('algorithm') as string, ...optional };
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
