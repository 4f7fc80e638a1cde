// The tools of a built session by identifier, each with its source: the routing delegate sends
// each call to its source (the session checked its input: SPEC §15), and refuses two tools of
// one name.
import {
  CodeCellError,
  toolIdentifier,
  type JsonValue,
  type CellId,
  type CellNotification,
  type NestedToolCall,
  type SessionRuntimeDelegate,
  type ToolDefinition,
} from '../../src/index.js';

/** The delegate of a `withTools` source: its tool calls, and (optionally) the cells' notifications. */
export interface ToolSource {
  invokeTool(call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined>;
  notify?(notification: CellNotification, signal: AbortSignal): Promise<void>;
  cellClosed?(cellId: CellId): void | Promise<void>;
}

/** A tool of a `withTools` source (`validateInput: false` skips its inputSchema check). */
export type SourceTool = ToolDefinition;

export interface Route {
  readonly source: string;
  invoke(call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined>;
}

export class ToolRoutes {
  readonly #routes = new Map<string, Route>();
  /** Every tool, in the order added. */
  readonly definitions: ToolDefinition[] = [];

  /** Adds a tool with its route; ERR_INVALID_REQUEST when another source has a tool of its name. */
  add(tool: ToolDefinition, route: Route): void {
    const id = toolIdentifier(tool);
    const taken = this.#routes.get(id);
    if (taken !== undefined)
      throw new CodeCellError(
        'ERR_INVALID_REQUEST',
        `tool name clash: tools.${id} comes from ${taken.source} and from ${route.source}`,
      );
    this.#routes.set(id, route);
    this.definitions.push(tool);
  }

  /** Sends each call to its source; notifications to every source that takes them. */
  delegate(sources: ToolSource[]): SessionRuntimeDelegate {
    const routes = this.#routes;
    const notified = sources.filter((source) => typeof source.notify === 'function');
    const closers = sources.filter((source) => typeof source.cellClosed === 'function');
    return {
      invokeTool: async (call, signal) => {
        const route = routes.get(toolIdentifier(call.tool));
        if (route === undefined) throw new Error(`tools.${toolIdentifier(call.tool)} has no source in this session`);
        return route.invoke(call, signal);
      },
      notify: async (notification, signal) => {
        await Promise.all(notified.map(async (source) => source.notify?.(notification, signal)));
      },
      cellClosed: async (cellId) => {
        await Promise.all(closers.map(async (source) => source.cellClosed?.(cellId)));
      },
    };
  }
}
