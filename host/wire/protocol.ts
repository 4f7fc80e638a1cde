// host/wire/ — the wire, transport-neutral: the method table (this file), the one JSON-RPC engine
// (rpc.ts), the carriers (carrier.ts: Content-Length frames in framing.ts, WebSocket messages in
// websocket.ts) and how a host process is started (host-process.ts). A new transport is one more
// carrier, nothing else. It imports only src/; server, client, tools and cli may import it.
//
// The codecell-host wire protocol (SPEC §8) as one table: every method's name, direction, kind,
// params schema and result type. The server and the client register and call methods only
// through these rows (rpc.ts), so params arrive validated and typed. Objects the runtime
// validates itself (requests, tools, limits, modes) are typed here and checked there, with its
// messages and ERR_INVALID_REQUEST.
import {
  type CallOutcome,
  type CellAnswer,
  type CellLimits,
  type CellNotification,
  type CellStreamEvent,
  type ExecuteRequest,
  type JsonValue,
  type NestedToolCall,
  type ObserveMode,
  type SessionRuntimeDelegate,
  type SessionSnapshot,
  type SessionStreamEvent,
  type ToolDefinition,
} from '../../src/index.js';
import type { ReplayableCell } from '../../src/index.js';
import type {
  Direction,
  MethodKind,
  ParamsSchema,
  MethodSpec,
  InitializeResult,
  SessionCreateResult,
  HostPingResult,
  CellExecuteResult,
  ToolInvokeResult,
  InSession,
  IncomingRequest,
  Serialised,
  SessionId,
  Traced,
  WireCellEvent,
  WireParams,
  WireJournalUpdate,
  WireStart,
} from './wire-types.js';
import {
  absent,
  boolean,
  nonEmptyString,
  number,
  object,
  oneOf,
  optional,
  string,
  unchecked,
  type Shape,
} from './shape.js';

export type {
  SessionId,
  Direction,
  MethodKind,
  ParamsIssue,
  ParamsSchema,
  MethodSpec,
  ParamsOf,
  ResultOf,
  InitializeResult,
  SessionCreateResult,
  HostLoad,
  HostPingResult,
  CellExecuteResult,
  ToolInvokeResult,
  InSession,
  InCell,
  Traced,
  HostTiming,
  WireCellEvent,
  WireParams,
  CellJournalPart,
  WireDelivery,
  WireJournalUpdate,
  WireStart,
  CellCancelParams,
  IncomingRequest,
  Serialised,
} from './wire-types.js';

export { errorFromWire, JsonRpcErrors, wireCodeOf, type WireErrorData } from './wire-errors.js';

/** Version 2: execute answers at admission, events by subscription, one cancel per cell (docs/protocol.md). */
export const PROTOCOL_VERSION = 2;

/** A method's params schema, checked against the params its row declares (WireParams). */
type SchemaOf<K extends keyof WireParams> = Shape<WireParams[K]>;

const request =
  <K extends keyof WireParams, Result>() =>
  <D extends Direction>(
    name: string,
    direction: D,
    params: SchemaOf<K>,
  ): MethodSpec<WireParams[K], Result, D, 'request'> => ({
    name,
    direction,
    kind: 'request',
    params: schemaOf(params),
  });
const notification =
  <K extends keyof WireParams>() =>
  <D extends Direction = 'toClient'>(
    name: string,
    params: SchemaOf<K>,
    direction: D = 'toClient' as D,
  ): MethodSpec<WireParams[K], void, D, 'notification'> => ({
    name,
    direction,
    kind: 'notification',
    params: schemaOf(params),
  });

/** A row's params check as the engine (rpc.ts) applies it: the params as they came, or the first misfit. */
function schemaOf<P>(check: Shape<P>): ParamsSchema<P> {
  return {
    safeParse: (value) => {
      const misfit = check(value);
      return misfit === undefined
        ? { success: true, data: value as P }
        : { success: false, error: { issues: [misfit] } };
    },
  };
}

/** A value the runtime checks itself: typed here, passed through as is. */
const checkedByRuntime = unchecked;

const sessionId = nonEmptyString;
const cellId = string;
const inSession = { sessionId };
const inCell = { sessionId, cellId };
/** W3C trace context of the sender's span (SPEC §14): what it starts at the other end is its child. */
const traced = {
  _meta: optional(object({ traceparent: optional(string), tracestate: optional(string) })),
};

/** A running cell's journal as its host mirrors it (checked by the client: host/client/host-journal-shapes.ts). */
const journalFields = {
  start: optional(checkedByRuntime<WireStart>()),
  update: optional(checkedByRuntime<WireJournalUpdate>()),
};
const journalPart = { journal: optional(object(journalFields)) };

/** A caller may not choose the session id: the host assigns it. */
const noSessionId = absent('sessionId is assigned by the host; do not pass one');

/** The protocol's method table (docs/protocol.md): name, direction, kind and params check of every method. */
export const Methods = {
  initialize: request<'initialize', InitializeResult>()(
    'initialize',
    'toHost',
    object({
      protocolVersion: number,
      clientInfo: optional(object({ name: string, version: optional(string) })),
      capabilities: optional(object({ handOff: optional(boolean) })),
    }),
  ),
  /** Answered at once (the setup cell admitted); the setup cell's first event follows as cell/initialEvent. */
  sessionCreate: request<'sessionCreate', SessionCreateResult>()(
    'session/create',
    'toHost',
    object({
      sessionId: noSessionId,
      tools: optional(checkedByRuntime<ToolDefinition[]>()),
      limits: optional(checkedByRuntime<Partial<CellLimits>>()),
      storedValues: optional(checkedByRuntime<'enabled' | 'disabled'>()),
      callbackAbortDeadlineMs: optional(checkedByRuntime<number>()),
      setupSource: optional(string),
      /** The session's key (its calls' idempotency keys begin with it); the host makes one when none. */
      key: optional(checkedByRuntime<string>()),
      /** A suspended session's state (its snapshot's stored values and next cell id): resumed here. */
      restore: optional(checkedByRuntime<Pick<SessionSnapshot, 'storedValues' | 'nextCellId' | 'pausedCells'>>()),
      /** Send session/stored with each commit of its stored values (the client re-homes with them). */
      mirror: optional(boolean),
      /** With `restore`: the session moved here from a host that was lost or drained (its metrics say so). */
      moved: optional(boolean),
      /**
       * With a store (SPEC §16): the fencing epoch of the client's lease on `key`. Refused
       * (ERR_SESSION_MOVED) once the key was created here with a newer one; ends those of an older one.
       */
      epoch: optional(checkedByRuntime<number>()),
    }),
  ),
  /** Waits for the session's cells to end, answers its snapshot and ends the session (suspend). */
  sessionSuspend: request<'sessionSuspend', { snapshot: SessionSnapshot }>()(
    'session/suspend',
    'toHost',
    object(inSession),
  ),
  /** Answered at admission with the cell id; the initial observation follows as cell/initialEvent. */
  cellExecute: request<'cellExecute', CellExecuteResult>()(
    'cell/execute',
    'toHost',
    object({
      ...inSession,
      request: checkedByRuntime<ExecuteRequest>(),
      observe: optional(checkedByRuntime<ObserveMode>()),
      ...traced,
    }),
  ),
  cellObserve: request<'cellObserve', WireCellEvent>()(
    'cell/observe',
    'toHost',
    object({ ...inCell, mode: checkedByRuntime<ObserveMode>() }),
  ),
  cellTerminate: request<'cellTerminate', WireCellEvent>()('cell/terminate', 'toHost', object(inCell)),
  /** Runs a cell a CellInterrupt paused again, with `answer` as that call's outcome; answers its next observation. */
  cellResume: request<'cellResume', WireCellEvent>()(
    'cell/resume',
    'toHost',
    object({
      ...inCell,
      answer: checkedByRuntime<CellAnswer>(),
      observe: optional(checkedByRuntime<ObserveMode>()),
      ...traced,
    }),
  ),
  /**
   * Runs a cell lost with its host again on this one, from the journal its client kept (SPEC §13);
   * answered once it runs (it is observed as any cell).
   */
  cellReplay: request<'cellReplay', Record<string, never>>()(
    'cell/replay',
    'toHost',
    object({ ...inSession, cell: checkedByRuntime<ReplayableCell>(), ...traced }),
  ),
  /** The outcome of a replayed cell's call that was in flight when its first host was lost. */
  cellSettle: request<'cellSettle', Record<string, never>>()(
    'cell/settle',
    'toHost',
    object({ ...inCell, callId: string, answer: checkedByRuntime<CallOutcome>() }),
  ),
  /**
   * Starts cell/event for the cell: its held events first (with `from: 'start'`, its whole kept
   * log, a `gap` event first if some were dropped), then each as it happens.
   */
  cellSubscribe: request<'cellSubscribe', Record<string, never>>()(
    'cell/subscribe',
    'toHost',
    object({ ...inCell, from: optional(oneOf('now', 'start')) }),
  ),
  /** Starts session/event for the session: every cell's events from now on, admissions included. */
  sessionSubscribe: request<'sessionSubscribe', Record<string, never>>()(
    'session/subscribe',
    'toHost',
    object(inSession),
  ),
  /** Accepted and ignored (the first v2 clients sent it): a cell's newest 128 events wait either way. */
  cellNoSubscriber: notification<'cellNoSubscriber'>()('cell/noSubscriber', object(inCell), 'toHost'),
  sessionShutdown: request<'sessionShutdown', Record<string, never>>()('session/shutdown', 'toHost', object(inSession)),
  /** Liveness: answered at once by a host whose event loop runs, with its load (clients place sessions by it). */
  hostPing: request<'hostPing', HostPingResult>()('host/ping', 'toHost', object({})),
  /** `journal`: the cell's journal up to this call, for a re-homing client (as cell/journal). */
  toolInvoke: request<'toolInvoke', ToolInvokeResult>()(
    'tool/invoke',
    'toClient',
    object({ ...inSession, call: checkedByRuntime<NestedToolCall>(), ...journalPart, ...traced }),
  ),
  cellNotify: request<'cellNotify', Record<string, never>>()(
    'cell/notify',
    'toClient',
    object({ ...inSession, notification: checkedByRuntime<CellNotification>(), ...journalPart, ...traced }),
  ),
  /** The initial observation of a cell admitted by cell/execute or session/create. */
  cellInitialEvent: notification<'cellInitialEvent'>()(
    'cell/initialEvent',
    object({ ...inCell, event: checkedByRuntime<WireCellEvent>() }),
  ),
  cellEvent: notification<'cellEvent'>()(
    'cell/event',
    object({ ...inCell, event: checkedByRuntime<CellStreamEvent>() }),
  ),
  sessionEvent: notification<'sessionEvent'>()(
    'session/event',
    object({ ...inSession, event: checkedByRuntime<SessionStreamEvent>() }),
  ),
  /**
   * The host gave up on the cell's requests of this method (one of DelegateCalls): their signals
   * abort and they are never answered (one message for them all instead of a $/cancelRequest each).
   */
  cellCancel: notification<'cellCancel'>()(
    'cell/cancel',
    object({ ...inCell, method: oneOf('tool/invoke', 'cell/notify') }),
  ),
  cellClosed: notification<'cellClosed'>()('cell/closed', object(inCell)),
  /** A newer owner of the session's key (its `epoch`) created it on this host: this one ended here. */
  sessionMoved: notification<'sessionMoved'>()('session/moved', object({ ...inSession, epoch: number })),
  /** A commit of the session's stored values (session/create's `mirror`): the keys written, as JSON texts. */
  sessionStored: notification<'sessionStored'>()(
    'session/stored',
    // Checked by the client itself: a host that sends another shape is treated as lost.
    object({ ...inSession, values: checkedByRuntime<Record<string, string>>() }),
  ),
  /**
   * A running cell's journal as it grows (session/create's `mirror`): first what the cell runs
   * (`start`), then what it consumed since the last one — sent before any other message about
   * the cell, so the client holds it up to every effect it has seen (SPEC §13).
   */
  cellJournal: notification<'cellJournal'>()('cell/journal', object({ ...inCell, ...journalFields })),
  /**
   * The host drains (SIGTERM): it takes no new sessions, and ends the connection `graceMs` from
   * now. A client that said `handOff` moves its sessions elsewhere meanwhile; at the end their
   * running cells are lost with the connection (the host sends them no terminal events).
   */
  hostDraining: notification<'hostDraining'>()('host/draining', object({ graceMs: number })),
  /**
   * V8 lost control of this cell's isolate (a catastrophic out-of-memory): the host exits at once
   * after this message. The cell caused it, so its client never runs it again elsewhere (it ends
   * `terminated`/`memoryLimit`); the other cells lost with the host are innocent (SPEC §13).
   */
  hostCatastrophe: notification<'hostCatastrophe'>()('host/catastrophe', object({ ...inCell, message: string })),
} as const;

type MethodTable = typeof Methods;

/** The keys of the methods that go in direction D, of kind K. */
export type MethodsOf<D extends Direction, K extends MethodKind = MethodKind> = {
  [M in keyof MethodTable]: MethodTable[M] extends MethodSpec<infer _P, unknown, D, K> ? M : never;
}[keyof MethodTable];

/**
 * One handler per method of direction D and kind K: a request's returns its result (its signal
 * aborts when the peer cancels it), a notification's returns nothing. A receiver typed with it
 * does not compile while a method of the table has no handler.
 */
export type Handlers<D extends Direction, K extends MethodKind = MethodKind> = {
  [M in MethodsOf<D, K>]: MethodTable[M] extends MethodSpec<infer P, infer R, D, infer Kind>
    ? Kind extends 'request'
      ? (params: P, request: IncomingRequest) => R | Serialised | Promise<R | Serialised>
      : (params: P) => void
    : never;
};

/** A delegate call crossing the wire: its params carry the session id and the call's argument. */
export interface DelegateCall {
  readonly method: MethodSpec<InSession>;
  /** The request's params: the session id and the delegate method's argument (it has a `cellId`). */
  params(sessionId: SessionId, arg: never): InSession & Traced;
  /** The JSON-RPC result made of the delegate's value. */
  answer(value: unknown): unknown;
  /** The delegate's value from the JSON-RPC result. */
  value(result: unknown): unknown;
}

/**
 * The SessionRuntimeDelegate methods (but cellClosed, a notification) that cross the wire as host →
 * client requests. The server forwards and the client serves exactly these.
 */
export const DelegateCalls = {
  invokeTool: {
    method: Methods.toolInvoke,
    params: (sessionId: SessionId, call: NestedToolCall) => ({ sessionId, call }),
    answer: (value: JsonValue | undefined): ToolInvokeResult => (value === undefined ? {} : { value }),
    value: (result: unknown) =>
      result !== null && typeof result === 'object' && 'value' in result
        ? (result as ToolInvokeResult).value
        : undefined,
  },
  notify: {
    method: Methods.cellNotify,
    params: (sessionId: SessionId, notification: CellNotification) => ({ sessionId, notification }),
    answer: (): Record<string, never> => ({}),
    value: () => undefined,
  },
} as const satisfies Record<Exclude<keyof SessionRuntimeDelegate, 'cellClosed'>, DelegateCall>;
export type DelegateCallName = keyof typeof DelegateCalls;
