// One MCP session of `codecell mcp`: an MCP Server offering exec / wait / search_tools over its
// own codecell session. Over stdio there is one; over Streamable HTTP one per Mcp-Session-Id
// (mcp-http.ts). A tools/call with a progressToken gets the cell's output and notifications as
// notifications/progress while it runs; notifications/cancelled terminates the cell it waits on
// (or detaches from it, with --on-cancel detach).
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  codeModeStatus,
  createCodeModeTools,
  type CellStreamEvent,
  type CodeModeResult,
  type ToolDefinition,
} from '../../src/index.js';
import { CODECELL_VERSION, messageOf } from '../../src/internal.js';
import type { SessionBuilder } from '../tools/session-builder.js';

/** Past this many characters of tool declarations, exec lists tool names and search_tools serves the rest. */
const MAX_DECLARATION_CHARS = 8_000;

/** What every MCP session of one `codecell mcp` shares. */
export interface McpContext {
  /** A builder with the upstream tools whose cells' notify() goes to `log` (this session's client). */
  newBuilder(log: (text: string) => void): SessionBuilder;
  tools: ToolDefinition[];
  onCancel: 'terminate' | 'detach';
  /** The servers of the sessions open now (upstream logs go to each). */
  servers: Set<Server>;
}

export interface McpSession {
  server: Server;
  /** Shuts the session's codecell session down. */
  close(): Promise<void>;
}

type ContentBlock = { type: 'text'; text: string } | { type: 'image'; data: string; mimeType: string };

/** MCP content for a code-mode result: its text, its images, and the status line. */
function contentOf(result: CodeModeResult, waitName: string): { content: ContentBlock[]; isError: boolean } {
  const content: ContentBlock[] = result.output === '' ? [] : [{ type: 'text', text: result.output }];
  for (const image of result.images) {
    const match = /^data:([^;,]+)(;base64)?,(.*)$/s.exec(image.image_url);
    content.push(
      match === null
        ? { type: 'text', text: '[image]' }
        : {
            type: 'image',
            mimeType: match[1] ?? 'image/png',
            data:
              match[2] === undefined
                ? Buffer.from(decodeURIComponent(match[3] ?? '')).toString('base64')
                : (match[3] ?? ''),
          },
    );
  }
  content.push({ type: 'text', text: codeModeStatus(result, waitName) });
  return { content, isError: result.status === 'failed' };
}

/** The text a stream event contributes to progress, if any. */
function progressText(event: CellStreamEvent): string | undefined {
  if (event.type === 'notification') return event.text;
  if (event.type === 'output' && event.item.type === 'text') return event.item.text;
  return undefined;
}

/** What an upstream tool without an outputSchema (typed Promise<unknown>) resolves to. */
const RESULT_NOTE =
  '\nAn upstream tool resolves to its structuredContent when it has one, else to the text of a ' +
  'single text block, else to its content blocks; an error result rejects with its text.';

export function newMcpSession(context: McpContext): McpSession {
  const server = new Server(
    { name: 'codecell', version: CODECELL_VERSION },
    { capabilities: { tools: {}, logging: {} } },
  );
  const log = (data: string): void => {
    server.sendLoggingMessage({ level: 'info', logger: 'codecell', data }).catch(() => {});
  };
  const builder = context.newBuilder(log);
  const codeMode = createCodeModeTools(
    { start: () => builder.start() },
    { tools: context.tools, strict: false, onAbort: context.onCancel, maxDeclarationChars: MAX_DECLARATION_CHARS },
  );
  const { exec, wait, search } = codeMode;
  const listedTools = [
    { ...exec, description: exec.description + RESULT_NOTE },
    wait,
    ...(search === undefined ? [] : [search]),
  ].map(({ name, description, inputSchema }) => ({ name, description, inputSchema }));
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: listedTools as never }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const input = (request.params.arguments ?? {}) as Record<string, unknown>;
    const progressToken = request.params._meta?.progressToken;
    let progress = 0;
    const onEvent =
      progressToken === undefined
        ? undefined
        : (event: CellStreamEvent): void => {
            const message = progressText(event);
            if (message === undefined) return;
            extra
              .sendNotification({
                method: 'notifications/progress',
                params: { progressToken, progress: ++progress, message },
              })
              .catch(() => {});
          };
    const options = { signal: extra.signal, ...(onEvent === undefined ? {} : { onEvent }) };
    try {
      if (request.params.name === exec.name) return contentOf(await exec.execute(input as never, options), wait.name);
      if (request.params.name === wait.name) return contentOf(await wait.execute(input as never, options), wait.name);
      if (search !== undefined && request.params.name === search.name)
        return { content: [{ type: 'text', text: await search.execute(input as never) }] };
      return { content: [{ type: 'text', text: `unknown tool ${request.params.name}` }], isError: true };
    } catch (error) {
      return { content: [{ type: 'text', text: messageOf(error) }], isError: true };
    }
  });
  context.servers.add(server);
  return {
    server,
    close: async () => {
      context.servers.delete(server);
      await (await codeMode.session().catch(() => undefined))?.shutdown();
    },
  };
}
