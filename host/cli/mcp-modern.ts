// `codecell mcp --http`'s answer to MCP revision 2026-07-28: stateless requests (no initialize, no
// Mcp-Session-Id; each request carries its revision and the client's capabilities in `_meta`),
// served by MCP SDK v2's createMcpHandler, which checks the envelope, the Mcp-Method and Mcp-Name
// headers, answers server/discover and puts ttlMs/cacheScope on tools/list (ADR 22). With no
// session to hold them, its requests share one codecell session: a cell id is good in any later
// request. A cell paused at a call that needs approval answers with an `input_required` result
// asking the person; the client's retry carries the answer and a sealed requestState naming the
// cell and the call, which is refused (-32602) when tampered with, expired or spent.
import { randomBytes } from 'node:crypto';
import {
  createMcpHandler,
  createRequestStateCodec,
  inputRequired,
  inputResponse,
  isLegacyRequest,
  ProtocolError,
  ProtocolErrorCode,
  Server,
  type CallToolResult,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { describePause, type CodeCellSession, type CodeModeResult } from '../../src/index.js';
import { CODECELL_VERSION, messageOf, withTraceMeta } from '../../src/internal.js';
import { CallsMade } from './mcp-calls-made.js';
import { afterOutput, callIds, contentOf, waitInputOf, withCallsMade, withStarting } from './mcp-results.js';
import { clientCapabilitiesOf, declaresTasks, McpTasks, TASKS_EXTENSION } from './mcp-tasks.js';
import { progressOf, settleApprovals, upstreamCodeMode, type McpContext } from './mcp-server.js';

/** What a requestState seals: the paused cell and the call the person is asked about. */
interface ApprovalState {
  cell: string;
  call: string;
}

/** The key of the one input request an approval asks. */
const APPROVAL = 'approval';
/** How long the person has to answer (the requestState's life). */
const APPROVAL_TTL_S = 3_600;

export interface ModernMcp {
  /** Whether an HTTP POST without a session is of revision 2026-07-28 (its body given parsed). */
  isModern(request: Request, body: unknown): Promise<boolean>;
  /** Answers one 2026-07-28 request over HTTP. */
  fetch(request: Request): Promise<Response>;
  /** A server for one 2026-07-28 connection over stdio (or one HTTP request). */
  factory(): Server;
  /** Ends the requests in flight and the shared codecell session. */
  close(): Promise<void>;
}

export function modernMcp(context: McpContext): ModernMcp {
  const made = new CallsMade();
  let started: Promise<CodeCellSession> | undefined;
  // The client hears of an upstream that joined late on its subscriptions/listen stream.
  const codeMode = upstreamCodeMode(context, { start: () => (started = context.startSession(() => {}, made)) }, () =>
    handler.notify.toolsChanged(),
  );
  // A per-process key: a state minted by another process (or before a restart) is refused.
  const codec = createRequestStateCodec<ApprovalState>({
    key: randomBytes(32),
    ttlSeconds: APPROVAL_TTL_S,
    bind: (ctx) => ctx.mcpReq.method,
  });
  /** Calls whose answer is being acted on: a second retry with the same state is refused meanwhile. */
  const answering = new Set<string>();
  /** Output a cell made before it asked (input_required carries none), by cell: given with its next result. */
  const held = new Map<string, Pick<CodeModeResult, 'output' | 'images'>>();

  const elicits = (ctx: ServerContext): boolean => clientCapabilitiesOf(ctx)?.elicitation !== undefined;

  /** What an exec or wait answers for a result: its content, the calls that took effect, upstreams starting. */
  const finalAnswer = (result: CodeModeResult): CallToolResult => {
    const told = withStarting(withCallsMade(result, made), context.upstreams.starting ?? []);
    return contentOf(told, codeMode.wait.name) as never;
  };
  const tasks = new McpTasks(codeMode, finalAnswer);

  /** A paused cell's answer: the person is asked, with the state that names the cell and call. */
  const ask = async (result: CodeModeResult, ctx: ServerContext): Promise<CallToolResult | undefined> => {
    const pause = result.status === 'interrupted' ? codeMode.paused(result.cell_id) : undefined;
    if (pause === undefined || !elicits(ctx)) return undefined;
    held.set(result.cell_id, afterOutput(held.get(result.cell_id) ?? { output: '', images: [] }, result));
    const message = `${describePause(pause)}. Allow it?`;
    return inputRequired({
      inputRequests: {
        [APPROVAL]: inputRequired.elicit({ message, requestedSchema: { type: 'object', properties: {} } }),
      },
      requestState: await codec.mint({ cell: result.cell_id, call: pause.callId }, ctx),
    }) as never;
  };

  /** The retry of an exec or wait that asked: the person's answer settles the call it named. */
  const answered = async (
    state: ApprovalState,
    ctx: ServerContext,
    options: Parameters<typeof codeMode.wait.execute>[1],
  ): Promise<CodeModeResult | CallToolResult> => {
    if (codeMode.paused(state.cell)?.callId !== state.call || answering.has(state.call))
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        'this approval was answered already, or its cell moved on: ask with wait for what it waits on now',
      );
    const view = inputResponse(ctx.mcpReq.inputResponses, APPROVAL);
    if (view.kind !== 'elicit') {
      // No answer to what was asked: the person is asked again.
      const asked = await ask(await codeMode.wait.execute({ cell_id: state.cell, yield_time_ms: 0 }), ctx);
      if (asked !== undefined) return asked;
    }
    answering.add(state.call);
    try {
      if (view.kind === 'elicit' && view.action === 'cancel')
        return context.onCancel === 'terminate'
          ? await codeMode.wait.execute({ cell_id: state.cell, terminate: true })
          : await codeMode.wait.execute({ cell_id: state.cell, yield_time_ms: 0 });
      const approved = view.kind === 'elicit' && view.action === 'accept';
      return await codeMode.wait.execute({ cell_id: state.cell }, { ...options, approved });
    } finally {
      answering.delete(state.call);
    }
  };

  const call = async (
    params: { name: string; arguments?: Record<string, unknown> },
    ctx: ServerContext,
  ): Promise<CallToolResult> => {
    const input = params.arguments ?? {};
    const { exec, wait } = codeMode;
    const { sender, options } = progressOf(ctx.mcpReq._meta?.progressToken, ctx.mcpReq.signal, (notification) =>
      ctx.mcpReq.notify(notification),
    );
    const answer = async (result: CodeModeResult | CallToolResult): Promise<CallToolResult> => {
      sender?.flush();
      if (!isCodeModeResult(result)) return result;
      const asked = await ask(result, ctx);
      if (asked !== undefined) return asked;
      const earlier = held.get(result.cell_id);
      held.delete(result.cell_id);
      const whole = earlier === undefined ? result : afterOutput(earlier, result);
      // An exec whose cell outlives its yield, for a client that takes tasks: a task follows it.
      const running = whole.status === 'yielded' || whole.status === 'pending';
      if (running && params.name === exec.name && declaresTasks(ctx)) return tasks.start(whole);
      return finalAnswer(whole);
    };
    const search = codeMode.search();
    if (search !== undefined && params.name === search.name)
      return { content: [{ type: 'text', text: await search.execute(input as never) }] };
    if (params.name !== exec.name && params.name !== wait.name)
      return { content: [{ type: 'text', text: `unknown tool ${params.name}` }], isError: true };
    try {
      // A retry that answers an approval: the cell it names goes on (exec's source never runs twice).
      const state = ctx.mcpReq.requestState<ApprovalState>();
      if (state !== undefined) return await answer(await answered(state, ctx, options));
      if (params.name === exec.name)
        // The client's trace context (`_meta.traceparent`) is the cell span's parent.
        return await answer(await withTraceMeta(ctx.mcpReq._meta, () => exec.execute(input as never, options)));
      const { approve, decline, ...waitInput } = waitInputOf(input);
      const waited = await wait.execute(waitInput as never, options);
      if (elicits(ctx)) return await answer(waited);
      // A client that cannot ask its user names the calls it approves or declines in wait.
      const decided = { approve: callIds(approve), decline: callIds(decline) };
      return await answer(await settleApprovals(codeMode, waited, options, { onCancel: context.onCancel }, decided));
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      return { content: [{ type: 'text', text: messageOf(error) }], isError: true };
    }
  };

  const factory = (): Server => {
    const server = new Server(
      { name: 'codecell', version: CODECELL_VERSION },
      {
        capabilities: { tools: { listChanged: true }, extensions: { [TASKS_EXTENSION]: {} } },
        // The list changes only when an upstream joins: kept a minute once none is starting.
        cacheHints: {
          'tools/list': { ttlMs: (context.upstreams.starting ?? []).length > 0 ? 0 : 60_000, cacheScope: 'private' },
        },
        requestState: { verify: codec.verify },
      },
    );
    server.setRequestHandler('tools/list', (_request, ctx) => ({
      tools: codeMode.listed(context.upstreams.asksApproval === true && !elicits(ctx)) as never,
    }));
    server.setRequestHandler('tools/call', (request, ctx) => call(request.params, ctx));
    tasks.register(server);
    return server;
  };
  const handler = createMcpHandler(factory, {
    legacy: 'reject',
    onerror: (error) => context.warn?.(`codecell mcp: ${error.message}`),
  });

  return {
    isModern: async (request, body) => !(await isLegacyRequest(request, body)),
    fetch: (request) => handler.fetch(request),
    factory,
    close: async () => {
      codeMode.stop();
      await handler.close();
      if (context.keepsSessions !== true) await (await started?.catch(() => undefined))?.shutdown();
    },
  };
}

const isCodeModeResult = (result: CodeModeResult | CallToolResult): result is CodeModeResult =>
  typeof result.cell_id === 'string' && typeof result.status === 'string';
