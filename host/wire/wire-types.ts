// The protocol's types (docs/protocol.md): the params and results of every method, and the shape
// of a row of the method table (protocol.ts). Types only: no schema library reaches them.
import type {
  CallOutcome,
  CellAnswer,
  CellEvent,
  CellLimits,
  CellNotification,
  CellStreamEvent,
  ExecuteRequest,
  JsonValue,
  NestedToolCall,
  ObserveMode,
  SessionSnapshot,
  SessionStreamEvent,
  ToolDefinition,
} from '../../src/index.js';
import type { ReplayableCell } from '../../src/index.js';
import type { PartStart, PartUpdate } from '../../src/internal.js';

/** A session's id on its host, assigned by the host. */
export type SessionId = string;
/** Which way a method goes: to the host, or to the client. */
export type Direction = 'toHost' | 'toClient';

/** A request (answered) or a notification. */
export type MethodKind = 'request' | 'notification';

/** How a params check reports what is wrong: where, and why. */
export interface ParamsIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** What checks a method's params: the params typed, or the issues found (the first is reported). */
export interface ParamsSchema<P> {
  safeParse(value: unknown): { success: true; data: P } | { success: false; error: { issues: readonly ParamsIssue[] } };
}

/** One row of the method table; `result` only carries the result type. */
export interface MethodSpec<
  Params = unknown,
  Result = unknown,
  D extends Direction = Direction,
  K extends MethodKind = MethodKind,
> {
  readonly name: string;
  readonly direction: D;
  readonly kind: K;
  /** Checks the params (zod inside; only this shape is part of the API). */
  readonly params: ParamsSchema<Params>;
  readonly result?: Result;
}
/** A method's params, as its schema checks them. */
export type ParamsOf<M extends MethodSpec> = M extends MethodSpec<infer P> ? P : never;
/** A request's result. */
export type ResultOf<M extends MethodSpec> = M extends MethodSpec<unknown, infer R> ? R : never;

/** The answer to initialize: the protocol version, the server and the host's caps. */
export interface InitializeResult {
  protocolVersion: number;
  serverInfo: { name: string; version: string };
  limits: CellLimits;
  /** The largest message (bytes) the host reads; a larger one costs the connection. */
  maxMessageBytes?: number;
}
/** `callbackAbortDeadlineMs`: the session's deadline, which the client's own waits keep too. */
export interface SessionCreateResult {
  sessionId: SessionId;
  setupCellId?: string;
  callbackAbortDeadlineMs?: number;
  load?: HostLoad;
  /** The session's maxToolResultBytes: a larger result fails its call on the client, before it is sent. */
  maxToolResultBytes?: number;
  /** The session's maxStoredBytes (what a client's mirror of its stored values holds at most). */
  maxStoredBytes?: number;
  /** With `mirror`: the session's limits, which a cell's mirrored start names by reference. */
  limits?: CellLimits;
}
/**
 * What a host reports of its load, over all its connections: its sessions, its cells admitted
 * and not yet closed, and whether it accepts new sessions (false while it drains: go elsewhere).
 */
export interface HostLoad {
  sessions: number;
  cellsRunning: number;
  accepting: boolean;
}
/** The answer to host/ping: the host's load. */
export interface HostPingResult {
  load?: HostLoad;
}
/**
 * The host's own timing of a cell (SPEC §14), in `_meta` of every answer about it: how long it
 * waited to be admitted (an isolate, the connection's bound), and how long it has run since (its
 * whole run once it closed), in milliseconds.
 */
export interface HostTiming {
  queuedMs: number;
  ranMs: number;
}
/** An observation as the host answers it: the cell's event with the host's timing. */
export type WireCellEvent = CellEvent & { _meta?: HostTiming };
/** The answer to cell/execute: the admitted cell's id (and the host's timing of it). */
export interface CellExecuteResult {
  cellId: string;
  _meta?: HostTiming;
}
/** The tool's JSON value; absent when the tool returned undefined. */
export interface ToolInvokeResult {
  value?: JsonValue;
}

/** The params of a method addressed to one session. */
export interface InSession {
  sessionId: SessionId;
}
/** The params of a method addressed to one cell. */
/** W3C trace context of the sender's span (SPEC §14, docs/protocol.md). */
export interface Traced {
  _meta?: { traceparent?: string; tracestate?: string };
}

export interface InCell extends InSession {
  cellId: string;
}

// A delivery, an update and a start as a host mirrors them to its client: the parts a cell's
// ledger is fed (src/ledger/ledger-parts.ts).
export type {
  PartDelivery as WireDelivery,
  PartUpdate as WireJournalUpdate,
  PartStart as WireStart,
} from '../../src/internal.js';

/** A running cell's journal as its host mirrors it (cell/journal, or with a delegate call). */
export interface CellJournalPart {
  /** What the cell runs: sent once, first. */
  start?: PartStart;
  /** What it consumed since the last part. */
  update?: PartUpdate;
}

/** The params of every method, by its key in Methods (e.g. `WireParams['cellExecute']`). */
export interface WireParams {
  initialize: {
    protocolVersion: number;
    clientInfo?: { name: string; version?: string };
    /** `handOff`: the client moves its sessions away when the host drains (host/draining). */
    capabilities?: { handOff?: boolean };
  };
  sessionCreate: {
    /** Never given: the host assigns the id. */
    sessionId?: undefined;
    tools?: ToolDefinition[];
    limits?: Partial<CellLimits>;
    storedValues?: 'enabled' | 'disabled';
    callbackAbortDeadlineMs?: number;
    setupSource?: string;
    /** The session's key: its calls' idempotency keys begin with it (SPEC §16). */
    key?: string;
    /** A suspended session's stored values and next cell id (HostClient#resumeSession). */
    restore?: Pick<SessionSnapshot, 'storedValues' | 'nextCellId' | 'pausedCells'>;
    /** Send session/stored with each commit of the session's stored values. */
    mirror?: boolean;
    /** With `restore`: the session moved here from a host that was lost or drained. */
    moved?: boolean;
    /** With a store: the fencing epoch of the client's lease on `key` (SPEC §16). */
    epoch?: number;
  };
  cellExecute: InSession & { request: ExecuteRequest; observe?: ObserveMode } & Traced;
  cellObserve: InCell & { mode: ObserveMode };
  cellTerminate: InCell;
  cellResume: InCell & { answer: CellAnswer; observe?: ObserveMode } & Traced;
  cellSubscribe: InCell & { from?: 'now' | 'start' };
  sessionSubscribe: InSession;
  cellNoSubscriber: InCell;
  sessionShutdown: InSession;
  sessionSuspend: InSession;
  hostPing: Record<string, never>;
  toolInvoke: InSession & { call: NestedToolCall; journal?: CellJournalPart } & Traced;
  cellNotify: InSession & { notification: CellNotification; journal?: CellJournalPart } & Traced;
  cellInitialEvent: InCell & { event: WireCellEvent };
  cellEvent: InCell & { event: CellStreamEvent };
  sessionEvent: InSession & { event: SessionStreamEvent };
  cellCancel: InCell & { method: 'tool/invoke' | 'cell/notify' };
  cellClosed: InCell;
  sessionMoved: InSession & { epoch: number };
  sessionStored: InSession & { values: Record<string, string> };
  cellJournal: InCell & CellJournalPart;
  cellReplay: InSession & { cell: ReplayableCell } & Traced;
  cellSettle: InCell & { callId: string; answer: CallOutcome };
  hostDraining: { graceMs: number };
  hostCatastrophe: InCell & { message: string };
}
export type CellCancelParams = WireParams['cellCancel'];

/** A result serialised ahead by its handler (rpc.ts's JsonText). */
export interface Serialised {
  readonly text: string;
}

/** A request being served: its id, and a signal that aborts when the peer cancels it ($/cancelRequest). */
export interface IncomingRequest {
  readonly id: string | number;
  /** Aborted when the peer cancels the request or the connection ends (made on first use). */
  readonly signal: AbortSignal;
  /** False once the request was answered, cancelled or forgotten. */
  readonly open: boolean;
  /** The peer gave the request up another way (cell/cancel): it is never answered. */
  forget(): void;
}
