import type { CellLimits } from './limits.js';

/** A cell's id, assigned by its session: "1", "2", ... in admission order. */
export type CellId = string;
/** A value that crosses as JSON: what tools take and return. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A tool the cells can call as `tools.<name>(input)` (or `tools.<namespace>__<name>`). */
export interface ToolDefinition {
  name: string;
  namespace?: string;
  description?: string;
  kind?: ToolKind;
  inputSchema?: JsonValue;
  outputSchema?: JsonValue;
  /** false: calls are not checked against `inputSchema` before they reach the delegate (default true). */
  validateInput?: boolean;
  /**
   * A call made twice with one idempotency key has the effect of one (default false): a call
   * whose outcome was lost may be made again (SPEC §16); otherwise it never is.
   */
  idempotent?: boolean;
}

/** `function`: takes a JSON object; `freeform`: takes a string. */
export type ToolKind = 'function' | 'freeform';
/** The language of a cell's source; `auto` strips TypeScript types when the cell has any. */
export type CellLanguage = 'javascript' | 'typescript' | 'auto';

/** What `execute` runs: the cell's source, and optionally its language, tools and limits. */
export interface ExecuteRequest {
  source: string;
  toolCallId?: string;
  tools?: ToolDefinition[];
  /** Default `auto`, as for exec and `codecell run`: types are stripped when the source needs it. */
  language?: CellLanguage;
  limits?: Partial<CellLimits>;
  /** The name the cell's errors and stack traces give its source (default cell.js / cell.ts). */
  filename?: string;
}

/**
 * When an observation returns: after `ms` at the latest (`yieldAfter`), or once the cell waits
 * only on tools or timers (`pendingFrontier`).
 */
export type ObserveMode = { kind: 'yieldAfter'; ms: number } | { kind: 'pendingFrontier' };

/** The detail levels of an image item (OpenAI's input_image detail). */
import type { ImageDetail } from './isolate/sandbox-protocol.js';
export type { ImageDetail } from './isolate/sandbox-protocol.js';

/** One item of a cell's output: a text (text(), console.*) or an image (image()). */
export type OutputItem = { type: 'text'; text: string } | { type: 'image'; imageUrl: string; detail: ImageDetail };

/**
 * Why a cell was terminated: terminate() (`requested`), a session shutdown, a limit, the loss
 * of its host (`hostLost`: a remote session's host died or ended its drain while the cell ran),
 * or a run from its journal that asked for another tool or input than recorded (`replayDiverged`).
 */
export type TerminationReason =
  | 'requested'
  | 'shutdown'
  | 'memoryLimit'
  | 'timeLimit'
  | 'outputLimit'
  | 'hostLost'
  | 'replayDiverged'
  /** Its agent process was lost and a recovery could not run it again (SPEC §16). */
  | 'agentLost';

/**
 * A tool call of a cell lost with its host (SPEC §13), from the client's own record: whether the
 * delegate had answered it (`returned`, `threw`) or was still working on it (`pending`).
 */
export interface ToolCallRecord {
  callId: string;
  tool: { name: string; namespace?: string };
  input: JsonValue | undefined;
  /** `inDoubt` (SPEC §16): a cell its agent process lost had the call started, with no outcome kept. */
  outcome: 'returned' | 'threw' | 'pending' | 'inDoubt';
}

/** What an observation returns: the cell's output since the last one, and how the cell stands (SPEC §4). */
export type CellEvent =
  | { kind: 'yielded'; cellId: CellId; items: OutputItem[] }
  | { kind: 'pending'; cellId: CellId; items: OutputItem[]; pendingToolCallIds: string[] }
  | {
      kind: 'completed';
      cellId: CellId;
      items: OutputItem[];
      error?: string;
      /** What the cell returned at its top level (`return value`), when it is JSON. */
      result?: JsonValue;
    }
  | {
      kind: 'terminated';
      cellId: CellId;
      items: OutputItem[];
      reason?: TerminationReason;
      /** With `reason: 'hostLost'`, `'replayDiverged'` or `'agentLost'`: every tool call the cell made, in order. */
      toolCalls?: ToolCallRecord[];
      /** How many of its oldest answered calls `toolCalls` leaves out (it lists at most 1 000). */
      toolCallsDropped?: number;
      /**
       * Why, in words, where the reason leaves it open: which time limit ended it (`its
       * wallTimeMs limit of 100 ms passed`), why a cell lost with its host could not run again on
       * another (no journal, past its bound, moved too often), or that its host named it as the
       * cell whose isolate ran out of memory.
       */
      detail?: string;
    }
  /**
   * A tool call was answered with a CellInterrupt (SPEC §13): the cell is paused — its isolate
   * freed, its journal kept — until `resumeCell(cellId, answer)` gives that call its outcome.
   */
  | {
      kind: 'interrupted';
      cellId: CellId;
      items: OutputItem[];
      callId: string;
      tool: { name: string; namespace?: string };
      input: JsonValue | undefined;
      payload: JsonValue;
      /**
       * `inDoubt`: a recovery found the call started with no outcome, and its tool is not
       * idempotent (SPEC §16): `resumeCell` settles it (`{ result }`, `{ error }`, `{ retry: true }`).
       */
      reason?: 'inDoubt';
      /** With `reason: 'inDoubt'`: the call's idempotency key. */
      idempotencyKey?: string;
    };

/**
 * A cell the session still has, as `session.cells()` lists it: `running` (it runs, or waits on its
 * calls or timers), `paused` (a CellInterrupt paused it: `paused` says at which call and why —
 * a person's approval, or `reason: 'inDoubt'` with the call's idempotency key after a recovery;
 * resumeCell settles it), or `ended` (its end waits for the next observe or terminate).
 */
export interface OpenCell {
  cellId: CellId;
  state: 'running' | 'paused' | 'ended';
  /** With `paused`: its interrupted event, without its items. */
  paused?: Omit<Extract<CellEvent, { kind: 'interrupted' }>, 'items'>;
}

/** A call's outcome as a person or an agent gives it: its result, or an error. */
export type CallOutcome = { result: JsonValue | undefined } | { error: string };

/**
 * What `resumeCell` delivers as the interrupted call's outcome: its result or an error; or a
 * person's decision — `{ approved: true }` makes the call now (the session's delegate gets it
 * again, marked `approved`) and the cell gets what it answers; `{ declined: true }` fails the call
 * in the cell with an error naming the tool and saying a person declined it (and `reason`).
 */
export type CellAnswer =
  | CallOutcome
  | { approved: true }
  | { declined: true; reason?: string }
  /** For a call in doubt after a recovery (SPEC §16): made again, with its idempotency key. */
  | { retry: true };

export type TerminalCellEvent = Extract<CellEvent, { kind: 'completed' | 'terminated' }>;

/** A tool call made by a cell, as its session's delegate receives it. */
export interface NestedToolCall {
  cellId: CellId;
  callId: string;
  tool: { name: string; namespace?: string };
  kind: ToolKind;
  input: JsonValue | undefined;
  /**
   * One string per call, the same whenever the call is made again (a replay, a move to another
   * host, a recovery), another call's never — also across lifetimes of a session key kept in a
   * store (cell ids go on): `<session key>:<cell id>:<call id>`. Pass it on to what the tool
   * calls, so a call made twice takes effect once.
   */
  idempotencyKey: string;
  /**
   * A person approved this call after its cell paused at it (`resumeCell(cellId, { approved:
   * true })`): the delegate makes it now, without asking again.
   */
  approved?: true;
  /**
   * With a store (SPEC §16): the fencing epoch of the session's owner that makes the call. A
   * recovery by another process raises it; a tool that keeps its own record may refuse a call of
   * an older epoch than one it has seen for the session.
   */
  epoch?: number;
}

/** A notify() message of a cell, as its session's delegate receives it. */
export interface CellNotification {
  cellId: CellId;
  /** The exec toolCallId of the cell that sent it. */
  callId: string;
  text: string;
}

/**
 * What a session asks of its agent: tool calls, notifications and (optionally) word of closed
 * cells; each call gets an AbortSignal.
 */
export interface SessionRuntimeDelegate {
  invokeTool(call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined>;
  notify(notification: CellNotification, signal: AbortSignal): Promise<void>;
  cellClosed?(cellId: CellId): void | Promise<void>;
}

/** What `execute` resolves with: the cell's id and its initial observation. */
export interface StartedCell {
  cellId: CellId;
  initialEvent: Promise<CellEvent>;
  /**
   * The cell's text output from its admission until its terminal event, one `text()` item per
   * line (replayed, so it may be called at any time while the cell's events are kept). When the
   * replay lost its oldest events (over 1 024 events or 1 MiB), a final line says so.
   */
  readText(): Promise<string>;
}

/** An observation begun with `beginObserve`: its event, once the cell reaches the mode's point. */
export interface PendingEvent {
  event: Promise<CellEvent>;
}

/** One event of a cell's stream (SPEC §7): output, notification, tool call and result, closed. */
export type CellStreamEvent =
  | { type: 'output'; item: OutputItem }
  | { type: 'toolCall'; callId: string; tool: { name: string; namespace?: string }; input: JsonValue | undefined }
  | { type: 'toolResult'; callId: string; ok: boolean; error?: string }
  | { type: 'notification'; text: string }
  | { type: 'closed'; event: CellEvent }
  /**
   * A CellInterrupt paused the cell (SPEC §13): its interrupted event, without its items — a
   * person's approval it waits for, or a call in doubt after a recovery (SPEC §16).
   */
  | { type: 'paused'; event: Omit<Extract<CellEvent, { kind: 'interrupted' }>, 'items'> }
  /** The pause was settled (resumeCell): the cell runs again, `callId` given its outcome. */
  | { type: 'resumed'; callId: string }
  /**
   * A remote cell whose host was lost runs on from its journal on another host (SPEC §13): the
   * events after this are that run's (its output before the loss is not produced again).
   */
  | { type: 'replayed'; from: string; to: string }
  /**
   * How many events are missing here: first in a replay whose oldest events were no longer kept,
   * or where a subscriber that did not keep up lost its oldest unread ones (10 000 / 16 MiB).
   * In a session stream, a gap names no cell (`cellId: ''`).
   */
  | { type: 'gap'; dropped: number };

/** A cell's event in its session's stream: its admission, or one of its stream events. */
export type SessionCellEvent = { cellId: CellId } & ({ type: 'admitted' } | CellStreamEvent);

/**
 * An event of `session.events()`: every cell's stream events and each cell's admission; for a
 * remote session also `rehomed` (no `cellId`): it moved from one host to another (SPEC §13).
 * `seq` numbers them, increasing by one per event of the session (a gap's is the newest event it
 * stands for): `events({ after: seq })` continues after it (SPEC §16).
 */
export type SessionStreamEvent = (
  SessionCellEvent | { type: 'rehomed'; from: string; to: string; reason: 'hostLost' | 'drain' }
) & { seq: number };

/** Where a session's stream starts (SPEC §16). */
export interface SessionEventsOptions {
  /**
   * Continue after the event of this `seq`: the session's newest 1 024 events (about 1 MiB) are
   * kept, in its store when it has one (else from when its stream was first followed), so a
   * stream continues from any of them — across a recovery too — with nothing lost or repeated
   * (a `gap` first when older ones are wanted). Without: events from now on.
   */
  after?: number;
}

/** Where a cell's event stream starts. */
export interface EventsOptions {
  /**
   * `'start'`: replay the cell's events from its admission (the newest 1 024 events or 1 MiB of
   * them; a `gap` event first says how many older ones were dropped), then go on live. `'now'`
   * (default): events from now on — except for the cell's first subscriber, which also gets the
   * newest 128 from before it subscribed.
   */
  from?: 'now' | 'start';
}

/** An event stream that can be handed to another consumer (see `handOff`). */
export interface HandOffStream<T> extends AsyncIterableIterator<T> {
  /**
   * Ends this stream and returns one that continues it: the events this one had not handed out,
   * then everything after, exactly once and in order.
   */
  handOff(): HandOffStream<T>;
}

/** Where codecell writes warnings and errors (default: the console, stderr). */
export interface Logger {
  warn(message: string): void;
  error(message: string): void;
}
