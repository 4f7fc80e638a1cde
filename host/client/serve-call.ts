// How the client serves one delegate call from the host (tool/invoke, cell/notify) with its
// session's delegate: inside the host's span, the value serialised once and checked against the
// cell's result bound, a failure (or a CellInterrupt) answered as the wire says. The calls' groups
// and their cancellation are incoming-calls.ts's.
import { toolIdentifier, type CallOutcome, type JsonValue, type SessionRuntimeDelegate } from '../../src/index.js';
import {
  type AnswerGate,
  errorKindOf,
  isCellInterrupt,
  messageOf,
  startCall,
  toJsonText,
  toolErrorText,
  withTraceMeta,
} from '../../src/internal.js';
import { ErrorAnswer, JsonText } from '../wire/messages.js';
import { DelegateCalls, JsonRpcErrors, type DelegateCall, type DelegateCallName } from '../wire/protocol.js';
import type { InboundRequest, IncomingCall } from './incoming-calls.js';

/**
 * The most of a delegate's error text the client sends (the host cuts it again to the session's
 * maxToolErrorBytes, 64 KiB by default): a 100 MB message never crosses the wire.
 */
const MAX_WIRE_ERROR_BYTES = 4 * 1024 * 1024;

/** What tool/invoke's answer wraps its value in: `{"value":…}` (`{}` when there is none). */
const VALUE_ENVELOPE_BYTES = '{"value":}'.length;
const VALUE_PREFIX_BYTES = '{"value":'.length;
const EMPTY_ANSWER_BYTES = '{}'.length;

type ToolRef = Parameters<typeof toolIdentifier>[0];

/**
 * The largest tool result (bytes of its JSON text) a call may answer with, and what sets it (the
 * cell's maxToolResultBytes, or the host's message bound): a larger one fails the call here, so
 * it never reaches the host (a message past its bound would cost the whole connection).
 */
export interface ResultBound {
  bytes: number;
  what: string;
}

/** What a re-homing session's ledger hears of a tool call it serves (SPEC §13), by cell and call id. */
export interface ServedCalls {
  /** The delegate returned or threw (a CellInterrupt leaves the call pending). */
  settled(cellId: string, callId: string, outcome: 'returned' | 'threw'): void;
  /**
   * The outcome as the cell gets it, and the size of its text; `resultText`: a result's JSON
   * text ('' for none), what the cell's isolate takes.
   */
  answered(cellId: string, callId: string, answer: CallOutcome, bytes: number, resultText?: string): void;
  /** The delegate asked to pause the cell at this call (its payload as JSON text). */
  interrupted(cellId: string, callId: string, payload: string): void;
}

/**
 * Serves a host call with the session's delegate; the host's cell/cancel aborts its signal.
 * `served`, if given (a tool call of a re-homing session), hears what the delegate did and what
 * the cell gets; the answer leaves through `gate` (with a store: once its outcome is durable).
 */
export function serveDelegateCall(
  delegate: SessionRuntimeDelegate,
  { name, call, meta }: InboundRequest,
  gate: AnswerGate,
  bound?: ResultBound,
  served?: ServedCalls,
): void {
  const { cellId, callId } = call.value as { cellId: string; callId: string };
  const answered = (answer: CallOutcome, bytes: number, resultText?: string): void =>
    served?.answered(cellId, callId, answer, bytes, resultText);
  const reply = (send: () => void): void => gate.send(send);
  // The table pairs each name with the delegate method of that name and its argument.
  const method = delegate[name] as (value: unknown, signal: AbortSignal) => unknown;
  const row: DelegateCall = DelegateCalls[name];
  const invoke = (signal: AbortSignal): unknown =>
    meta === undefined
      ? method.call(delegate, call.value, signal)
      : withTraceMeta(meta, () => method.call(delegate, call.value, signal));
  // Called now, as in-process (CallbackSet): no promise hop before the delegate has the call.
  call.started();
  startCall(invoke, call.signal).then(
    (value) => {
      call.finished();
      if (!call.wanted) return; // its session shut down: nobody takes the outcome
      served?.settled(cellId, callId, 'returned');
      let text: string;
      try {
        // The result is serialised once, checked, straight into the answer's text.
        text = toJsonText(row.answer(value as never));
      } catch (error) {
        // What cannot cross as JSON fails the call here, as in-process, instead of the answer.
        const message = `${subjectOf(name, call)} returned a value that is not JSON: ${messageOf(error)}`;
        answered({ error: message }, message.length);
        return reply(() => call.fail(new ErrorAnswer(JsonRpcErrors.delegateFailed, message)));
      }
      // Each UTF-8 byte is at most one UTF-16 unit, and each unit at most 3 bytes: measured only
      // when the length alone cannot tell. The size is the value's, as in-process.
      if (bound !== undefined && name === 'invokeTool' && text.length * 3 > bound.bytes) {
        const size = Buffer.byteLength(text, 'utf8') - VALUE_ENVELOPE_BYTES;
        if (size > bound.bytes) {
          const message = `${subjectOf(name, call)} result is ${size} bytes, over ${bound.what}`;
          answered({ error: message }, message.length);
          return reply(() => call.fail(new ErrorAnswer(JsonRpcErrors.delegateFailed, message)));
        }
      }
      // The value's own text, inside the answer's `{"value":…}` (none: `{}`).
      const resultText = text.length === EMPTY_ANSWER_BYTES ? '' : text.slice(VALUE_PREFIX_BYTES, -1);
      answered({ result: value as JsonValue | undefined }, text.length, resultText);
      reply(() => call.answer(new JsonText(text)));
    },
    (error: unknown) => {
      call.finished();
      // Its session shut down (10 000 calls given up at once): no text, no ledger entry is made.
      if (!call.wanted) return;
      const interrupt = isCellInterrupt(error) ? interruptPayload(error.payload) : undefined;
      // A paused call is answered later, by resumeCell: it is still pending.
      const message = toolErrorText(error, MAX_WIRE_ERROR_BYTES);
      if (interrupt === undefined) {
        served?.settled(cellId, callId, 'threw');
        answered({ error: message }, message.length);
      } else served?.interrupted(cellId, callId, interrupt);
      if (!call.open) return; // given up by the host (cell/cancel, shutdown): no answer to make
      const kind = errorKindOf(error);
      const data = interrupt !== undefined ? { interrupt } : kind === '' ? undefined : { kind };
      reply(() => call.fail(new ErrorAnswer(JsonRpcErrors.delegateFailed, message, data)));
    },
  );
}

/** A CellInterrupt's payload as it crosses (a JSON text), or undefined when it is not JSON. */
function interruptPayload(payload: unknown): string | undefined {
  try {
    return toJsonText(payload) || 'null';
  } catch {
    return undefined;
  }
}

/** What the cell calls the delegate method by: `tools.<identifier>`, or `delegate.<method>`. */
function subjectOf(name: DelegateCallName, call: IncomingCall): string {
  const tool = (call.value as { tool?: ToolRef } | undefined)?.tool;
  return name === 'invokeTool' && tool !== undefined ? `tools.${toolIdentifier(tool)}` : `delegate.${name}`;
}
