// One MCP session of `codecell mcp`: an MCP Server offering exec / wait / search_tools over its
// own codecell session. Over stdio there is one; over Streamable HTTP one per Mcp-Session-Id
// (mcp-http.ts). A tools/call with a progressToken gets the cell's output and notifications as
// notifications/progress while it runs; notifications/cancelled terminates the cell it waits on
// (or detaches from it, with --on-cancel detach).
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  createCodeModeTools,
  describePause,
  type CellPause,
  type CellStreamEvent,
  type CodeCellSession,
  type CodeModeResult,
  type CodeModeTools,
  type ToolDefinition,
} from '../../src/index.js';
import { CODECELL_VERSION, messageOf, withTraceMeta } from '../../src/internal.js';
import { CallsMade } from './mcp-calls-made.js';
import {
  afterOutput,
  callIds,
  contentOf,
  waitInputOf,
  withApprovals,
  withCallsMade,
  withCallsMadeField,
  withStarting,
} from './mcp-results.js';

/** Past this many characters of tool declarations, exec lists tool names and search_tools serves the rest. */
const MAX_DECLARATION_CHARS = 8_000;

/** What every MCP session of one `codecell mcp` shares. */
export interface McpContext {
  /**
   * Starts a codecell session over the upstream tools whose cells' notify() goes to `log` (this
   * session's client), and each upstream call answered to `made`.
   */
  startSession(log: (text: string) => void, made: CallsMade): Promise<CodeCellSession>;
  /** The upstream tools known now, word of an upstream that joins late, and whether some need approval. */
  upstreams: {
    readonly tools: readonly ToolDefinition[];
    onJoin(listener: () => void): () => void;
    readonly asksApproval?: boolean;
    /** The names of upstreams still starting (a call of their tools fails until they join). */
    readonly starting?: readonly string[];
  };
  onCancel: 'terminate' | 'detach';
  /** Where a warning for the operator goes (stderr). */
  warn?: (message: string) => void;
  /**
   * The servers of the sessions open now that hear the upstreams' log messages: over stdio its
   * one session; over HTTP none (an upstream's log line cannot be told apart by the session whose
   * call caused it, so it goes to stderr instead of to every tenant).
   */
  servers: Set<Server>;
  /** Whether upstream logs go to the sessions' servers (stdio) or not (HTTP). */
  forwardLogs: boolean;
  /** --store: a closing MCP session leaves its codecell session in the store for the next start, not ended. */
  keepsSessions?: boolean;
}

export interface McpSession {
  server: Server;
  /** Shuts the session's codecell session down, if one was started (closing never starts one). */
  close(): Promise<void>;
}

/** Where the transport ends a request's response itself (an aborted call gets no answer from the SDK). */
export interface McpSessionHooks {
  endResponse?(requestId: string | number): void;
}

/** The text a stream event contributes to progress, if any. */
function progressText(event: CellStreamEvent): string | undefined {
  if (event.type === 'notification') return event.text;
  if (event.type === 'output' && event.item.type === 'text') return event.item.text;
  return undefined;
}

/** Progress messages waiting to be sent at most; past it they are dropped (and the drop is reported). */
const MAX_QUEUED_PROGRESS = 256;

/**
 * A cell's text and notifications as MCP progress, sent on a later turn of the loop: the cell's
 * own delivery only queues them (bounded), so following a cell never costs the cell its time or
 * changes its outcome; what could not be kept is reported in one message instead.
 */
function progressSender(send: (message: string) => void): {
  onEvent(event: CellStreamEvent): void;
  /** Sends what waits now (before the call's answer, which ends its progress). */
  flush(): void;
} {
  const queue: string[] = [];
  let dropped = 0;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    for (const message of queue.splice(0)) send(message);
    if (dropped > 0)
      send(`[${dropped} progress message(s) dropped: the cell sent faster than they could be forwarded]`);
    dropped = 0;
  };
  const onEvent = (event: CellStreamEvent): void => {
    const message = progressText(event);
    if (event.type === 'gap')
      dropped += event.dropped; // the stream's own bound: events of any kind
    else if (message === undefined) return;
    else if (queue.length < MAX_QUEUED_PROGRESS) queue.push(message);
    else dropped++;
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return { onEvent, flush };
}

/**
 * The progress of one exec or wait, when its request asked for it (`_meta.progressToken`): the
 * sender (flushed before the answer), and the options that feed it the cell's events.
 */
export function progressOf(
  progressToken: string | number | undefined,
  signal: AbortSignal,
  notify: (notification: { method: 'notifications/progress'; params: Record<string, unknown> }) => Promise<void>,
) {
  let progress = 0;
  const sender =
    progressToken === undefined
      ? undefined
      : progressSender((message) => {
          if (signal.aborted) return;
          notify({ method: 'notifications/progress', params: { progressToken, progress: ++progress, message } }).catch(
            () => {},
          );
        });
  return { sender, options: { signal, ...(sender === undefined ? {} : { onEvent: sender.onEvent }) } };
}

/** What an upstream tool without an outputSchema (typed Promise<unknown>) resolves to. */
const RESULT_NOTE =
  '\nAn upstream tool resolves to its structuredContent when it has one, else to the text of a ' +
  'single text block, else to its content blocks; an error result rejects with its text.';

/**
 * exec and wait over one MCP session's cells; what is listed (and search_tools) follows the
 * upstream tools known now: an upstream that joins late re-describes them, then `changed` is called.
 */
export function upstreamCodeMode(
  context: McpContext,
  target: { start(): Promise<CodeCellSession> },
  changed: () => void,
) {
  const describe = () =>
    createCodeModeTools(target, {
      tools: context.upstreams.tools,
      strict: false,
      onAbort: context.onCancel,
      maxDeclarationChars: MAX_DECLARATION_CHARS,
    });
  let described = describe();
  const stop = context.upstreams.onJoin(() => {
    described = describe();
    changed();
  });
  const { exec, wait, paused } = described;
  return {
    exec,
    wait,
    paused,
    search: () => described.search,
    /** The tools as listed; `approveInWait`: wait takes the call ids the user approves or declines. */
    listed: (approveInWait = false) =>
      [
        { ...described.exec, description: described.exec.description + RESULT_NOTE },
        approveInWait ? withApprovals(described.wait) : described.wait,
        ...(described.search === undefined ? [] : [described.search]),
      ].map((tool) => ({
        name: tool.name,
        description: tool.description,
        inputSchema: tool.inputSchema,
        ...('outputSchema' in tool ? { outputSchema: withCallsMadeField(tool.outputSchema) } : {}),
      })),
    stop,
  };
}

/** How one MCP session's user decides on calls that need approval. */
export interface Approvals {
  /** Asks the user about the paused call (MCP elicitation); absent: the client cannot. */
  readonly ask?: (pause: CellPause, signal: AbortSignal) => Promise<boolean | 'cancel'>;
  onCancel: 'terminate' | 'detach';
}

/**
 * While `result` is a cell paused at a call that needs approval, settles it: through the client's
 * elicitation when it has it — accepted, the call is made and the cell goes on; declined, or
 * answered with what is not an elicitation result, the call fails in the cell saying a person
 * declined it; cancelled (the user's cancel, or the request's), `--on-cancel` decides: the cell is
 * terminated, or left paused — and without elicitation by `decided` (wait's `approve` and
 * `decline` call ids); a call it does not name stays paused, as the result says. The output each
 * step drained comes with the result, in order.
 */
export async function settleApprovals(
  codeMode: Pick<CodeModeTools, 'wait' | 'paused'>,
  result: CodeModeResult,
  options: { signal: AbortSignal; onEvent?: (event: CellStreamEvent) => void },
  approvals: Approvals,
  decided: { approve: readonly string[]; decline: readonly string[] } = { approve: [], decline: [] },
): Promise<CodeModeResult> {
  let current = result;
  while (current.status === 'interrupted') {
    const pause = codeMode.paused(current.cell_id);
    if (pause === undefined) return current;
    let decision: boolean | 'cancel' | undefined;
    if (approvals.ask !== undefined) decision = await approvals.ask(pause, options.signal);
    else if (decided.approve.includes(pause.callId)) decision = true;
    else if (decided.decline.includes(pause.callId)) decision = false;
    if (decision === undefined) return current;
    const cellId = current.cell_id;
    if (decision === 'cancel')
      return approvals.onCancel === 'terminate'
        ? afterOutput(current, await codeMode.wait.execute({ cell_id: cellId, terminate: true }))
        : current;
    current = afterOutput(
      current,
      await codeMode.wait.execute({ cell_id: cellId }, { ...options, approved: decision }),
    );
  }
  return current;
}

/** Asks the user about the paused call: true (accepted), false (declined, or a malformed answer), or 'cancel'. */
async function elicit(
  server: Server,
  pause: CellPause,
  signal: AbortSignal,
  asking: Set<AbortController>,
): Promise<boolean | 'cancel'> {
  const message = `${describePause(pause)}. Allow it?`;
  const ask = new AbortController();
  const cancelled = (): void => ask.abort(signal.reason);
  signal.addEventListener('abort', cancelled, { once: true });
  asking.add(ask);
  try {
    const asked = await server.elicitInput(
      { message, requestedSchema: { type: 'object', properties: {} } },
      { signal: ask.signal },
    );
    return asked.action === 'accept' ? true : asked.action === 'decline' ? false : 'cancel';
  } catch {
    // The request was cancelled meanwhile; else the answer was no elicitation result: declined.
    return signal.aborted ? 'cancel' : false;
  } finally {
    signal.removeEventListener('abort', cancelled);
    asking.delete(ask);
  }
}

export function newMcpSession(context: McpContext, hooks: McpSessionHooks = {}): McpSession {
  const server = new Server(
    { name: 'codecell', version: CODECELL_VERSION },
    { capabilities: { tools: { listChanged: true }, logging: {} } },
  );
  const log = (data: string): void => {
    server.sendLoggingMessage({ level: 'info', logger: 'codecell', data }).catch(() => {});
  };
  /** The codecell session last started for this MCP session (none until a call needs one). */
  let started: Promise<CodeCellSession> | undefined;
  const made = new CallsMade();
  const codeMode = upstreamCodeMode(context, { start: () => (started = context.startSession(log, made)) }, () => {
    server.sendToolListChanged().catch(() => {}); // not connected yet: its tools/list sees them anyway
  });
  const { exec, wait } = codeMode;
  // Asks waiting for the client's answer: a message from it that is not JSON-RPC ends them (a decline).
  const asking = new Set<AbortController>();
  server.onerror = () => {
    for (const ask of asking) ask.abort(new Error('the client answered with what is not an elicitation result'));
  };
  // A client that cannot ask its user is told once, and how to approve instead.
  const withoutElicitation = (): boolean =>
    context.upstreams.asksApproval === true && server.getClientCapabilities()?.elicitation === undefined;
  server.oninitialized = () => {
    if (!withoutElicitation()) return;
    const data =
      'codecell mcp: this client cannot ask its user (no MCP elicitation): a call that requires approval ' +
      'pauses its cell until wait names its call id in approve (or decline) — ask the user first';
    server.sendLoggingMessage({ level: 'warning', logger: 'codecell', data }).catch(() => {});
    context.warn?.(data);
  };
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: codeMode.listed(withoutElicitation()) as never,
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const input = (request.params.arguments ?? {}) as Record<string, unknown>;
    const { sender, options } = progressOf(request.params._meta?.progressToken, extra.signal, (notification) =>
      extra.sendNotification(notification),
    );
    const answer = (result: CodeModeResult) => {
      sender?.flush(); // progress after the answer would be dropped by the client
      return contentOf(withStarting(withCallsMade(result, made), context.upstreams.starting ?? []), wait.name);
    };
    // The SDK sends nothing for a cancelled request: its response is ended here, at once.
    const endResponse = (): void => void setImmediate(() => hooks.endResponse?.(extra.requestId));
    extra.signal.addEventListener('abort', endResponse, { once: true });
    // The MCP client's trace context (SPEC §14; `_meta.traceparent`) is the cell span's parent.
    const execute = (): ReturnType<typeof exec.execute> =>
      withTraceMeta(request.params._meta, () => exec.execute(input as never, options));
    // A cell paused at a call that needs approval: the person is asked through the client, or
    // (a client without elicitation) names the calls it approves in wait's approve and decline.
    const elicits = server.getClientCapabilities()?.elicitation !== undefined;
    const approvals: Approvals = {
      onCancel: context.onCancel,
      ...(elicits && { ask: (pause: CellPause, signal: AbortSignal) => elicit(server, pause, signal, asking) }),
    };
    try {
      if (request.params.name === exec.name)
        return answer(await settleApprovals(codeMode, await execute(), options, approvals));
      if (request.params.name === wait.name) {
        const { approve, decline, ...waitInput } = waitInputOf(input);
        const decided = elicits ? undefined : { approve: callIds(approve), decline: callIds(decline) };
        const waited = await wait.execute(waitInput as never, options);
        return answer(await settleApprovals(codeMode, waited, options, approvals, decided));
      }
      const search = codeMode.search();
      if (search !== undefined && request.params.name === search.name)
        return { content: [{ type: 'text', text: await search.execute(input as never) }] };
      return { content: [{ type: 'text', text: `unknown tool ${request.params.name}` }], isError: true };
    } catch (error) {
      return { content: [{ type: 'text', text: messageOf(error) }], isError: true };
    } finally {
      extra.signal.removeEventListener('abort', endResponse);
    }
  });
  if (context.forwardLogs) context.servers.add(server);
  return {
    server,
    close: async () => {
      codeMode.stop();
      context.servers.delete(server);
      if (context.keepsSessions !== true) await (await started?.catch(() => undefined))?.shutdown();
    },
  };
}
