// MCP servers as tool sources: connecting to one (stdio or Streamable HTTP), listing its tools
// as codecell tool definitions under a namespace, and calling one with the cell's signal. Used by
// SessionBuilder.withMcpServer and `codecell mcp`. This module imports the MCP SDK (an optional
// peer dependency); it is loaded only when an MCP server is used.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { jsonSchemaValidator, JsonSchemaValidatorResult } from '@modelcontextprotocol/sdk/validation/types.js';
import { toolIdentifier, type JsonValue, type NestedToolCall, type ToolDefinition } from '../../src/index.js';
import { CODECELL_VERSION, ToolInputChecks } from '../../src/internal.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { authOf, SignInProvider } from './mcp-auth.js';
import type { McpHttpAuth, McpHttpServer, McpServerConfig } from './mcp-config.js';

/** Pages of one server's tools/list read at most (a server may paginate forever). */
export const MAX_TOOL_PAGES = 100;
/** Tools of one server taken at most; the rest are left out with a warning. */
export const MAX_SERVER_TOOLS = 10_000;

/** Where what an upstream sent that codecell leaves out is reported. */
export type Warn = (message: string) => void;

export type { McpHttpServer, McpServerConfig, McpStdioServer } from './mcp-config.js';

/** The transport to an HTTP upstream: its headers, and its token (static, or from OAuth). */
function httpTransport(config: McpHttpServer, signIn?: SignInProvider): StreamableHTTPClientTransport {
  const { headers, authProvider } =
    signIn === undefined ? authOf(config.auth, String(config.url)) : { headers: {}, authProvider: signIn };
  return new StreamableHTTPClientTransport(new URL(config.url), {
    requestInit: { headers: { ...config.headers, ...headers } },
    ...(authProvider === undefined ? {} : { authProvider }),
  });
}

/**
 * Connects to an upstream whose auth is a person's sign-in: with a token kept from before, at
 * once; else the sign-in URL is announced (`warn`), and once the browser brings the code back
 * (within 5 minutes) the connection is made again with the token it is exchanged for.
 */
async function connectSigningIn(
  client: Client,
  config: McpHttpServer & { auth: Extract<McpHttpAuth, { type: 'authorization_code' }> },
  signal: AbortSignal | undefined,
  warn: Warn,
): Promise<void> {
  const key = `${config.auth.issuer ?? String(config.url)} ${config.auth.clientId ?? 'codecell'}`;
  const signIn = await SignInProvider.start(config.auth, key, (url) =>
    warn(`${config.name}: sign in to use it — open ${url}`),
  );
  try {
    const first = httpTransport(config, signIn);
    try {
      return await client.connect(first, { signal });
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      await first.finishAuth(await signIn.code(signal));
    }
    await client.connect(httpTransport(config, signIn), { signal });
  } finally {
    signIn.close();
  }
}

/**
 * Connects to the server; the returned client is closed by the caller. With `stderr: 'pipe'`,
 * `onStderr` gets the server's stderr stream before it starts.
 */
export async function connectMcpServer(
  config: McpServerConfig,
  signal?: AbortSignal,
  onStderr?: (stream: NodeJS.ReadableStream | null) => void,
  warn: Warn = () => {},
): Promise<Client> {
  // The SDK checks a tool's structuredContent against its outputSchema: here with codecell's own
  // compiler (RE2 patterns in linear time, a schema that does not compile checks nothing).
  const checks = new ToolInputChecks({ warn, error: warn });
  const jsonSchemaValidator: jsonSchemaValidator = {
    getValidator: <T>(schema: unknown) => {
      const check = checks.valueCheckOf(schema as { [key: string]: JsonValue }, `an outputSchema of ${config.name}`);
      return (input: unknown): JsonSchemaValidatorResult<T> => {
        const problem = check(input);
        return problem === undefined
          ? { valid: true, data: input as T, errorMessage: undefined }
          : { valid: false, data: undefined, errorMessage: problem };
      };
    },
  };
  const client = new Client({ name: 'codecell', version: CODECELL_VERSION }, { jsonSchemaValidator });
  if ('url' in config && config.auth?.type === 'authorization_code') {
    try {
      await connectSigningIn(client, { ...config, auth: config.auth }, signal, warn);
    } catch (error) {
      await client.close().catch(() => {});
      throw error;
    }
    return client;
  }
  const transport =
    'url' in config
      ? httpTransport(config)
      : new StdioClientTransport({
          command: config.command,
          args: config.args ?? [],
          // The environment passes through (servers are configured by it), less what npm set for a
          // run of its own, plus the server's own.
          env: { ...passedEnvironment(), ...config.env },
          ...(config.cwd === undefined ? {} : { cwd: config.cwd }),
          stderr: config.stderr ?? 'inherit',
        });
  if (transport instanceof StdioClientTransport) onStderr?.(transport.stderr as NodeJS.ReadableStream | null);
  try {
    await client.connect(transport, { signal });
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
  return client;
}

/**
 * The server's tools (its pages, up to MAX_TOOL_PAGES and MAX_SERVER_TOOLS), as definitions in
 * `namespace`. A tool without a usable name, or one whose identifier another of its tools took
 * already (`a-b` and `a_b`), is left out with a warning: what one upstream sends never fails the
 * session's other tools.
 */
export async function listMcpTools(
  client: Client,
  namespace: string,
  signal?: AbortSignal,
  warn: Warn = () => {},
): Promise<ToolDefinition[]> {
  const tools: ToolDefinition[] = [];
  const taken = new Map<string, string>();
  let cursor: string | undefined;
  let pages = 0;
  do {
    if (++pages > MAX_TOOL_PAGES || tools.length >= MAX_SERVER_TOOLS) {
      warn(`codecell: MCP server ${namespace}: tools past ${tools.length} (${pages - 1} pages) are left out`);
      break;
    }
    const page = await client.listTools(cursor === undefined ? {} : { cursor }, { signal });
    for (const tool of page.tools) {
      if (typeof tool.name !== 'string' || tool.name.trim() === '' || tool.name.length > 256) {
        warn(
          `codecell: MCP server ${namespace}: a tool named ${JSON.stringify(tool.name)} is left out (no usable name)`,
        );
        continue;
      }
      const id = toolIdentifier({ name: tool.name, namespace });
      const holder = taken.get(id);
      if (holder !== undefined) {
        const why = `it would be tools.${id}, as ${JSON.stringify(holder)} is`;
        warn(`codecell: MCP server ${namespace}: tool ${JSON.stringify(tool.name)} is left out: ${why}`);
        continue;
      }
      if (tools.length >= MAX_SERVER_TOOLS) break;
      taken.set(id, tool.name);
      tools.push({
        name: tool.name,
        namespace,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        inputSchema: tool.inputSchema as JsonValue,
        ...(tool.outputSchema === undefined ? {} : { outputSchema: tool.outputSchema as JsonValue }),
      });
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return tools;
}

/** The text blocks of an MCP result's content, joined. */
export function textOfContent(content: unknown): string {
  return Array.isArray(content)
    ? content
        .flatMap((block: { type?: string; text?: string }) =>
          block.type === 'text' && typeof block.text === 'string' ? [block.text] : [],
        )
        .join('\n')
    : '';
}

/**
 * Calls the tool with the cell's signal, its idempotency key in `_meta`. What the cell gets: the
 * structured content if any, the text of a single text block, else the content blocks; an
 * `isError` result rejects with its text.
 */
export async function callMcpTool(
  client: Client,
  call: NestedToolCall,
  signal: AbortSignal,
  onProgress?: (message: string) => void,
): Promise<JsonValue> {
  const result = await client.callTool(
    {
      name: call.tool.name,
      arguments: (call.input ?? {}) as Record<string, unknown>,
      // The call's idempotency key goes with it: an upstream that keeps keys makes a call once.
      ...(typeof call.idempotencyKey === 'string' ? { _meta: { idempotencyKey: call.idempotencyKey } } : {}),
    },
    undefined,
    {
      signal,
      ...(onProgress === undefined
        ? {}
        : {
            onprogress: (progress: { progress: number; total?: number }) =>
              onProgress(
                `${call.tool.namespace ?? ''}/${call.tool.name}: progress ${progress.progress}` +
                  (progress.total === undefined ? '' : `/${progress.total}`),
              ),
          }),
    },
  );
  if (result.isError === true) throw new Error(textOfContent(result.content) || `${call.tool.name} failed`);
  if (result.structuredContent !== undefined) return result.structuredContent as JsonValue;
  const content = result.content as { type: string; text?: string }[];
  return content.length === 1 && content[0]?.type === 'text' ? (content[0].text ?? '') : (content as JsonValue);
}

/**
 * What npm (and npx) put in the environment of the scripts it runs: passed on, they would make an
 * upstream started with `npx` act as part of that run — `npm_config_package` from an outer
 * `npx --package ...` runs that package instead of the upstream's.
 */
const NPM_RUN_VARIABLES = /^npm_(config|lifecycle|package)_/i;

/** This process's environment, as the string map a child process gets (less npm's run variables). */
export function passedEnvironment(environment: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(
    Object.entries(environment).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && !NPM_RUN_VARIABLES.test(entry[0]),
    ),
  );
}
