// Long cells as tasks (the `io.modelcontextprotocol/tasks` extension of MCP 2026-07-28): a client
// that declares the extension and runs an `exec` whose cell outlives its yield gets a task handle
// instead of a `yielded` result. The task follows the cell to its end: `tasks/get` polls it
// (`working`, `input_required` with the approval asked, then `completed` with the whole result —
// every output line since the exec — or `cancelled`), `tasks/update` answers an approval, and
// `tasks/cancel` terminates the cell. A task is kept an hour after it ends.
import { randomUUID } from 'node:crypto';
import {
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
  type CallToolResult,
  type Server,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { describePause, type CodeModeResult, type CodeModeTools } from '../../src/index.js';
import { afterOutput } from './mcp-results.js';

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
/** How long a task is kept from its creation (ttlMs), and how often a client should poll. */
const TASK_TTL_MS = 3_600_000;
const POLL_INTERVAL_MS = 1_000;
/** How long one wait of the task's cell lasts before the task looks again (it ends sooner when the cell does). */
const FOLLOW_MS = 30_000;

type Status = 'working' | 'input_required' | 'completed' | 'cancelled' | 'failed';

/** The task's statusMessage: which cell, and what it is doing (wait takes the same cell id). */
const STATUS_TEXT: Record<Status, string> = {
  working: 'is running',
  input_required: "waits for a person's answer",
  completed: 'has ended',
  cancelled: 'was terminated',
  failed: 'could not be followed',
};

interface Task {
  readonly taskId: string;
  readonly cellId: string;
  status: Status;
  readonly createdAt: string;
  lastUpdatedAt: string;
  /** Output the cell made since the exec, not yet given (it comes with the result). */
  held: Pick<CodeModeResult, 'output' | 'images'>;
  /** With input_required: the paused call, asked under its call id (unique over the task's life). */
  asked?: { key: string; message: string; answer(approved: boolean): void };
  /** The follower of its cell (see #follow): done once it no longer observes the cell. */
  following?: Promise<void>;
  result?: CallToolResult;
  error?: { code: number; message: string };
}

/** The capabilities the request's client declared in its `_meta` (2026-07-28), if any. */
export function clientCapabilitiesOf(
  ctx: ServerContext,
): { elicitation?: unknown; extensions?: Record<string, unknown> } | undefined {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  return envelope?.['io.modelcontextprotocol/clientCapabilities'] as ReturnType<typeof clientCapabilitiesOf>;
}

/** Whether the request's client declared the tasks extension in its capabilities. */
export function declaresTasks(ctx: ServerContext): boolean {
  return clientCapabilitiesOf(ctx)?.extensions?.[TASKS_EXTENSION] !== undefined;
}

interface TaskParams {
  taskId: string;
  inputResponses?: Record<string, unknown>;
}

/** A params schema (Standard Schema) for the task methods: an object with a string taskId. */
const TASK_PARAMS = {
  '~standard': {
    version: 1 as const,
    vendor: 'codecell',
    validate: (value: unknown) =>
      typeof (value as { taskId?: unknown } | null)?.taskId === 'string'
        ? { value: value as TaskParams }
        : { issues: [{ message: 'params.taskId must be a string' }] },
    types: undefined as unknown as { input: unknown; output: TaskParams },
  },
};

export class McpTasks {
  readonly #tasks = new Map<string, Task>();
  readonly #codeMode: Pick<CodeModeTools, 'wait' | 'paused'>;
  readonly #answer: (result: CodeModeResult) => CallToolResult;

  /** `answer` turns the cell's final result into the call's (calls made, upstreams still starting). */
  constructor(codeMode: Pick<CodeModeTools, 'wait' | 'paused'>, answer: (result: CodeModeResult) => CallToolResult) {
    this.#codeMode = codeMode;
    this.#answer = answer;
  }

  /** A task for a cell still running after its exec's yield: its handle (resultType "task"). */
  start(result: CodeModeResult): CallToolResult {
    const now = new Date().toISOString();
    const task: Task = {
      taskId: randomUUID(),
      cellId: result.cell_id,
      status: 'working',
      createdAt: now,
      lastUpdatedAt: now,
      held: { output: result.output, images: result.images },
    };
    this.#tasks.set(task.taskId, task);
    task.following = this.#follow(task);
    return { resultType: 'task', ...this.#shape(task) } as never;
  }

  /** tasks/get, tasks/update and tasks/cancel on a server of the 2026 leg. */
  register(server: Server): void {
    server.setRequestHandler('tasks/get', { params: TASK_PARAMS }, (params, ctx) => {
      const task = this.#task(params.taskId, ctx);
      return { resultType: 'complete', ...this.#detailed(task) };
    });
    server.setRequestHandler('tasks/update', { params: TASK_PARAMS }, (params, ctx) => {
      const task = this.#task(params.taskId, ctx);
      const asked = task.asked;
      // Answers for keys not outstanding (never asked, answered already) are ignored.
      // The SDK lifts inputResponses out of the params (as for a retried request).
      const responses = ctx.mcpReq.inputResponses ?? params.inputResponses;
      const response = asked === undefined ? undefined : responses?.[asked.key];
      const action = (response as { action?: unknown } | undefined)?.action;
      if (asked !== undefined && (action === 'accept' || action === 'decline' || action === 'cancel')) {
        task.asked = undefined;
        if (action === 'cancel') void this.#cancel(task);
        else asked.answer(action === 'accept');
      }
      return { resultType: 'complete' };
    });
    server.setRequestHandler('tasks/cancel', { params: TASK_PARAMS }, async (params, ctx) => {
      // Answered once the cell is terminated and the follower let go of it: a wait on the cell then
      // hears its end, not another observer.
      await this.#cancel(this.#task(params.taskId, ctx));
      return { resultType: 'complete' };
    });
  }

  #task(taskId: string, ctx: ServerContext): Task {
    if (!declaresTasks(ctx))
      throw new MissingRequiredClientCapabilityError({
        requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } },
      });
    const task = this.#tasks.get(taskId);
    if (task === undefined)
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `no task ${taskId}: unknown, or ended over an hour ago`);
    return task;
  }

  /** Follows the task's cell to its end, asking for each approval it pauses at. */
  async #follow(task: Task): Promise<void> {
    const { wait } = this.#codeMode;
    let approved: boolean | undefined;
    try {
      for (;;) {
        const options = approved === undefined ? {} : { approved };
        approved = undefined;
        const result = await wait.execute({ cell_id: task.cellId, yield_time_ms: FOLLOW_MS }, options);
        if ((task.status as Status) === 'cancelled') return;
        task.held = afterOutput(task.held, result);
        const pause = result.status === 'interrupted' ? this.#codeMode.paused(task.cellId) : undefined;
        if (pause !== undefined) {
          approved = await new Promise<boolean>((answer) => {
            task.asked = { key: pause.callId, message: `${describePause(pause)}. Allow it?`, answer };
            this.#update(task, 'input_required');
          });
          if ((task.status as Status) === 'cancelled') return;
          this.#update(task, 'working');
          continue;
        }
        if (result.status === 'yielded' || result.status === 'pending' || result.status === 'interrupted') continue;
        // Its end, with every output line since the exec (a terminated cell's too: it completed as a call).
        task.result = this.#answer({ ...result, output: task.held.output, images: task.held.images });
        this.#update(task, 'completed');
        return;
      }
    } catch (error) {
      task.error = { code: ProtocolErrorCode.InternalError, message: String((error as Error)?.message ?? error) };
      this.#update(task, 'failed');
    } finally {
      setTimeout(() => this.#tasks.delete(task.taskId), TASK_TTL_MS).unref();
    }
  }

  async #cancel(task: Task): Promise<void> {
    if (task.status === 'completed' || task.status === 'cancelled' || task.status === 'failed') return;
    this.#update(task, 'cancelled');
    const asked = task.asked;
    task.asked = undefined;
    asked?.answer(false);
    await this.#codeMode.wait.execute({ cell_id: task.cellId, terminate: true }).catch(() => {});
    await task.following;
  }

  #update(task: Task, status: Status): void {
    task.status = status;
    task.lastUpdatedAt = new Date().toISOString();
  }

  #shape(task: Task) {
    const { taskId, status, createdAt, lastUpdatedAt } = task;
    const statusMessage = `cell ${task.cellId} ${STATUS_TEXT[status]}`;
    return {
      taskId,
      status,
      statusMessage,
      createdAt,
      lastUpdatedAt,
      ttlMs: TASK_TTL_MS,
      pollIntervalMs: POLL_INTERVAL_MS,
    };
  }

  /** What tasks/get answers for the task now (DetailedTask). */
  #detailed(task: Task) {
    const shape = this.#shape(task);
    if (task.status === 'input_required' && task.asked !== undefined) {
      const requestedSchema = { type: 'object', properties: {} };
      const request = {
        method: 'elicitation/create',
        params: { mode: 'form', message: task.asked.message, requestedSchema },
      };
      return { ...shape, inputRequests: { [task.asked.key]: request } };
    }
    if (task.status === 'completed') return { ...shape, result: task.result };
    if (task.status === 'failed') return { ...shape, error: task.error };
    return shape;
  }
}
