// The delegate of a session on codecell-host: each delegate call (tool/invoke, cell/notify) is a
// request to the client, given up on with the cell's signal (one cell/cancel per cell and method)
// and read back as it arrives; cellClosed is a notification.
import { CellInterrupt, type CellId, type JsonValue, type SessionRuntimeDelegate } from '../../src/index.js';
import { errorOfKind, ParsedJson, recordsSpans, traceMeta, type TraceMeta } from '../../src/internal.js';
import type { Notify, RpcConnection, RpcError } from '../wire/rpc.js';
import { DelegateCalls, Methods, type CellJournalPart, type DelegateCall, type SessionId } from '../wire/protocol.js';

/** What goes with a cell's delegate calls besides the call: its journal, and its caller's trace context. */
export interface CellsOnTheWire {
  /**
   * The cell's journal since it was last sent (a re-homing client's mirror); `callId`: the
   * tool call it goes with.
   */
  journalOf?: (cellId: CellId, callId?: string) => CellJournalPart | undefined;
  /** The client answered the cell's tool call with a value (the mirror names it by reference). */
  answered?: (cellId: CellId, callId: string) => void;
  /** The trace context its caller sent (execute's `_meta`), for a host that records no spans. */
  traceOf?: (cellId: CellId) => TraceMeta | undefined;
}

/**
 * The session's delegate: each delegate call of the table is a request to the client (given up
 * on with its signal, one cell/cancel per cell); cellClosed is a notification.
 */
export function forwardingDelegate(
  host: { readonly rpc: RpcConnection; readonly notify: Notify },
  sessionId: SessionId,
  cells: CellsOnTheWire = {},
): SessionRuntimeDelegate {
  const { journalOf = () => undefined, traceOf = () => undefined, answered } = cells;
  // Given up with the cell's signal: one cell/cancel for all the cell's calls of the method.
  const forward = (call: DelegateCall) => {
    const plain = DECODERS.get(call) as Decode;
    // A tool call's value answered is what the cell gets: the mirror names it, not sends it back.
    const decode: Decode =
      answered === undefined || call !== DelegateCalls.invokeTool
        ? plain
        : {
            result: (result, params) => {
              const { cellId, callId } = (params as { call: { cellId: CellId; callId: string } }).call;
              answered(cellId, callId);
              return plain.result(result, params);
            },
            error: plain.error,
          };
    const method = call.method.name as 'tool/invoke' | 'cell/notify';
    return (value: { cellId: string; callId?: string }, signal: AbortSignal): Promise<unknown> => {
      const cancelAll = (): void => host.rpc.notify(Methods.cellCancel, { sessionId, cellId: value.cellId, method });
      // Inside its call's span (SPEC §14), the client's delegate runs as that span's child.
      const params = call.params(sessionId, value as never);
      // Without an SDK in this process no span is active here: the cell's caller's context goes on
      // as it came (execute's _meta), so the client's delegate still runs as the caller's child.
      const meta = recordsSpans() ? traceMeta() : traceOf(value.cellId);
      if (meta !== undefined) params._meta = meta;
      // The cell's journal up to this call goes with it (a re-homing client's mirror).
      // A tool call's id (a notification's `callId` is its cell's exec call, not a tool call).
      const { cellId } = value;
      const callId = call === DelegateCalls.invokeTool ? value.callId : undefined;
      const journal = journalOf(cellId, callId);
      if (journal !== undefined) (params as { journal?: CellJournalPart }).journal = journal;
      return host.rpc.request(call.method, params, { signal, cancelAll, decode });
    };
  };
  const forwarders = Object.entries(DelegateCalls).map(([name, call]) => [name, forward(call)]);
  // Each forwarder returns what the client answered for that delegate method (table-checked).
  const delegate: Record<string, unknown> = Object.fromEntries(forwarders);
  delegate.cellClosed = (cellId: CellId) => host.notify(Methods.cellClosed, { sessionId, cellId });
  return delegate as unknown as SessionRuntimeDelegate;
}

type Decode = { result(result: unknown, params: unknown): unknown; error(error: RpcError): Error };

/**
 * What a delegate call resolves with, read from the answer as it arrives: the delegate's value
 * from JSON.parse says so (ParsedJson: not checked again); its error is of its kind (a tool
 * input's TypeError stays one).
 */
const DECODERS = new Map(
  Object.values(DelegateCalls).map((call: DelegateCall) => [
    call,
    {
      result: (result: unknown): unknown => {
        const value = call.value(result) as JsonValue | undefined;
        return value !== null && typeof value === 'object' ? new ParsedJson(value) : value;
      },
      error: (error: RpcError): Error => {
        const data = error.data as { kind?: unknown; interrupt?: unknown } | undefined;
        // The client's delegate paused the cell (CellInterrupt): its payload as JSON text.
        if (typeof data?.interrupt === 'string')
          return new CellInterrupt(parseInterrupt(data.interrupt), error.message);
        return errorOfKind(data?.kind, error.message);
      },
    },
  ]),
);

/** A CellInterrupt payload from the wire; one that is not JSON is null (the cell still pauses). */
function parseInterrupt(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return null;
  }
}
