import type { CellLimits } from './limits.js';

export type CellId = string;
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface ToolDefinition {
  name: string;
  namespace?: string;
  description?: string;
  kind?: ToolKind;
  inputSchema?: JsonValue;
  outputSchema?: JsonValue;
}

export type ToolKind = 'function' | 'freeform';
export type CellLanguage = 'javascript' | 'typescript' | 'auto';

export interface ExecuteRequest {
  source: string;
  toolCallId?: string;
  tools?: ToolDefinition[];
  language?: CellLanguage;
  limits?: Partial<CellLimits>;
}

export type ObserveMode = { kind: 'yieldAfter'; ms: number } | { kind: 'pendingFrontier' };

/** The detail levels of an image item (OpenAI's input_image detail). */
import type { ImageDetail } from './cell/sandbox-protocol.js';
export { IMAGE_DETAILS, type ImageDetail } from './cell/sandbox-protocol.js';

export type OutputItem =
  | { type: 'text'; text: string }
  | { type: 'image'; imageUrl: string; detail: ImageDetail };

export type TerminationReason = 'requested' | 'shutdown' | 'memoryLimit' | 'timeLimit' | 'outputLimit';

export type CellEvent =
  | { kind: 'yielded'; cellId: CellId; items: OutputItem[] }
  | { kind: 'pending'; cellId: CellId; items: OutputItem[]; pendingToolCallIds: string[] }
  | { kind: 'completed'; cellId: CellId; items: OutputItem[]; error?: string }
  | { kind: 'terminated'; cellId: CellId; items: OutputItem[]; reason?: TerminationReason };

export type TerminalCellEvent = Extract<CellEvent, { kind: 'completed' | 'terminated' }>;

export interface NestedToolCall {
  cellId: CellId;
  callId: string;
  tool: { name: string; namespace?: string };
  kind: ToolKind;
  input: JsonValue | undefined;
}

export interface CellNotification {
  cellId: CellId;
  /** The exec toolCallId of the cell that sent it. */
  callId: string;
  text: string;
}

export interface SessionRuntimeDelegate {
  invokeTool(call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined>;
  notify(notification: CellNotification, signal: AbortSignal): Promise<void>;
  cellClosed?(cellId: CellId): void | Promise<void>;
}

export interface StartedCell {
  cellId: CellId;
  initialEvent: Promise<CellEvent>;
}

export interface PendingEvent {
  event: Promise<CellEvent>;
}

export type CellStreamEvent =
  | { type: 'output'; item: OutputItem }
  | { type: 'toolCall'; callId: string; tool: { name: string; namespace?: string }; input: JsonValue | undefined }
  | { type: 'toolResult'; callId: string; ok: boolean; error?: string }
  | { type: 'notification'; text: string }
  | { type: 'closed'; event: CellEvent };

export interface Logger {
  warn(message: string): void;
  error(message: string): void;
}

/** The session interface shared by the in-process runtime and the out-of-process client. */
export interface CodeCellSession {
  readonly isAlive: boolean;
  execute(request: ExecuteRequest, initialObserve?: ObserveMode): Promise<StartedCell>;
  /** `signal`, when given, abandons the observation and frees the observer slot. */
  observe(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<CellEvent>;
  beginObserve(cellId: CellId, mode: ObserveMode, signal?: AbortSignal): Promise<PendingEvent>;
  terminate(cellId: CellId): Promise<CellEvent>;
  shutdown(): Promise<void>;
  events(cellId: CellId): AsyncIterable<CellStreamEvent>;
  [Symbol.asyncDispose](): Promise<void>;
}
