// A cell's nested tool calls: admission (ids, bounds, input checks), the delegate call under the
// cell's CallbackSet, the result checks, and delivery of the outcome into the sandbox.
import { messageOf, toolErrorText } from '../errors.js';
import { isCellInterrupt } from '../interrupt.js';
import { byteLength, parseJsonText, toJsonText } from '../json.js';
import type { CellLimits } from '../limits.js';
import type {
  CallOutcome,
  CellId,
  NestedToolCall,
  CellStreamEvent,
  JsonValue,
  SessionRuntimeDelegate,
  ToolCallRecord,
  ToolDefinition,
  ToolKind,
} from '../types.js';
import type { InputCheck } from '../tools/tool-input.js';
import type { CallSpans, TraceSpan } from '../tracing.js';
import type { CallbackSet } from './callbacks.js';
import type { CellJournal } from './journal.js';

export interface CellTool {
  readonly id: string;
  readonly definition: ToolDefinition;
  readonly kind: ToolKind;
  /** Its inputSchema's check (SPEC §15), if it has one. */
  readonly check?: InputCheck | undefined;
}

/** A call id as the sandbox makes them. */
const CALL_ID = /^tool-\d+$/;

/** A call's idempotency key (SPEC §16): the same wherever and however often the call is made. */
export const idempotencyKey = (sessionKey: string, cellId: string, callId: string): string =>
  `${sessionKey}:${cellId}:${callId}`;

/**
 * What a session with a store writes ahead of a call's effects (SPEC §16): each resolves once its
 * record is durable; one that rejects lets nothing go ahead (the session ends).
 */
export interface WriteAhead {
  /** The fencing epoch of the session's lease (once held): each call carries it. */
  readonly epoch: number | undefined;
  /**
   * The call's `started` record, before its delegate is invoked: resolves once it is durable and
   * the session's lease is current (rejects when not: the call is never made).
   */
  started(call: NestedToolCall): Promise<void>;
  /** The call's outcome, before the cell takes it: its result's JSON text, or its error message. */
  answered(cellId: CellId, callId: string, ok: boolean, payload: string, errorKind: string): Promise<void>;
  /** A notification of the cell goes to the delegate: its journal, which counts it, first. */
  notifying(cellId: CellId): Promise<void>;
  /** The delegate asked to pause the cell at the call (with its CellInterrupt's payload). */
  pauses(cellId: CellId, callId: string, payload: unknown): void;
}

/** Bound on the calls one cell may have waiting on its delegate. */
export const MAX_OUTSTANDING_TOOL_CALLS = 10_000;

/** What a cell's calls are made with: its own options (CellOptions has them), and its parts below. */
export interface ToolCallsOptions {
  /** The cell's id. */
  id: CellId;
  /** Its session's key: the first part of each call's idempotency key. */
  sessionKey: string;
  tools: readonly CellTool[];
  limits: Pick<CellLimits, 'maxToolInputBytes' | 'maxToolResultBytes' | 'maxToolErrorBytes' | 'maxConcurrentToolCalls'>;
  delegate: SessionRuntimeDelegate;
  callbacks: CallbackSet;
  emit(event: CellStreamEvent, size?: number): void;
  /** Delivers a call's outcome into the sandbox: its JSON result, or its error message and kind. */
  settle(callId: string, ok: boolean, payload: string, errorKind: string): void;
  /** False once the cell ended: late outcomes are then abandoned. */
  accepting(): boolean;
  /** No outcome waits for its record any more (with a store): the cell's frontier may be judged. */
  recorded(): void;
  /** Where each call is recorded (SPEC §13). */
  journal: CellJournal;
  /** A session with a store: what each call waits for (undefined: nothing). */
  writeAhead?: WriteAhead | undefined;
  /** The span of the cell's run, when it is traced: each call gets a span under it (SPEC §14). */
  span(): TraceSpan | undefined;
  /** The cell's delegate calls' spans (CallSpans). */
  spans: CallSpans;
  /**
   * A delegate answered with a CellInterrupt: undefined when the cell paused (the call waits for
   * answer()), or why it could not (the call then fails with that).
   */
  interrupt(call: PausedCall, payload: unknown): string | undefined;
}

/** The calls a terminated event lists (and how many of the oldest it leaves out). */
export type ListedCalls = { toolCalls: ToolCallRecord[]; toolCallsDropped?: number };

/** The call a CellInterrupt paused its cell at. */
export interface PausedCall {
  callId: string;
  tool: { name: string; namespace?: string };
  input: JsonValue | undefined;
}

export class ToolCalls {
  readonly #options: ToolCallsOptions;
  /** The calls in flight, with the bytes of their input (waiting for a slot or running). */
  readonly #outstanding = new Map<string, number>();
  #inputBytes = 0;
  /** Outcomes whose record is being written (with a store): the cell takes them once it is durable. */
  #recording = 0;
  /** Each call's idempotency key less the call's id. */
  readonly #keyPrefix: string;
  /** Calls a person approved before this run made them (made again after a recovery): made marked approved. */
  #approved: Set<string> | undefined;

  constructor(options: ToolCallsOptions) {
    this.#options = options;
    this.#keyPrefix = idempotencyKey(options.sessionKey, options.id, '');
  }

  /** The ids of the calls issued and not yet settled, oldest first. */
  get pending(): string[] {
    return [...this.#outstanding.keys()];
  }

  /** How many calls are issued and not yet settled (without listing them). */
  get outstanding(): number {
    return this.#outstanding.size;
  }

  /**
   * How many outcomes the delegate gave are waiting for their record (with a store): the cell will
   * take them, so no frontier is judged meanwhile (SPEC §4: settled results come first).
   */
  get recording(): number {
    return this.#recording;
  }

  /** A call from the sandbox; a refused one settles at once with the reason. */
  start(callId: string, index: number, inputJson: string): void {
    const { tools, limits, delegate, callbacks, emit, id: cellId } = this.#options;
    const tool = tools[index];
    if (tool === undefined || !CALL_ID.test(callId) || this.#outstanding.has(callId)) return;
    const name = `tools.${tool.id}`;
    const toolRef = toolRefOf(tool);
    this.#options.journal.recordCall(callId, index, inputJson);
    let input: JsonValue;
    const inputBytes = byteLength(inputJson);
    try {
      input = this.#admit(name, tool, inputJson, inputBytes);
    } catch (error) {
      this.#options.settle(callId, false, messageOf(error), errorKindOf(error));
      return;
    }
    this.#outstanding.set(callId, inputBytes);
    this.#inputBytes += inputBytes;
    const ahead = this.#options.writeAhead;
    const epoch = ahead?.epoch;
    const call: NestedToolCall = {
      cellId,
      callId,
      tool: toolRef,
      kind: tool.kind,
      input,
      idempotencyKey: this.#keyPrefix + callId,
    };
    if (epoch !== undefined) call.epoch = epoch;
    if (this.#approved?.delete(callId) === true) call.approved = true;
    // No promise of ours per call: the delegate's one reaction in the CallbackSet hands the outcome
    // here (this runs 10 000 times in a large cancellation).
    const direct =
      this.#options.span() === undefined
        ? (signal: AbortSignal) => delegate.invokeTool(call, signal)
        : (signal: AbortSignal) => this.#traced(call, signal);
    // With a store, the delegate gets the call once its record is durable (and not after a cancel).
    const invoke =
      ahead === undefined
        ? direct
        : (signal: AbortSignal) =>
            ahead.started(call).then(() => {
              signal.throwIfAborted();
              return direct(signal);
            });
    // An outcome the cell no longer takes (it ended: a shutdown gives up 10 000 calls at once) is
    // dropped before its text is made.
    callbacks.callTool(invoke, {
      value: (value) => {
        if (!this.#wanted(callId)) return;
        let payload: string;
        try {
          payload = resultText(name, value, limits.maxToolResultBytes);
        } catch (error) {
          this.#settle(callId, false, messageOf(error));
          return;
        }
        this.#settle(callId, true, payload);
      },
      error: (error: unknown) => {
        if (!this.#wanted(callId)) return;
        if (!isCellInterrupt(error))
          return this.#settle(callId, false, toolErrorText(error, limits.maxToolErrorBytes), errorKindOf(error));
        const refused = this.#options.interrupt({ callId, tool: toolRef, input }, error.payload);
        if (refused === undefined) this.#options.writeAhead?.pauses(cellId, callId, error.payload);
        if (refused !== undefined) this.#settle(callId, false, `${name} asked to pause the cell, but ${refused}`);
      },
    });
    // After the delegate has the call (its result comes in a later microtask, after this event):
    // the event is bookkeeping, the call is what the cell waits for. The input's JSON text is at
    // hand: the stream's log need not serialise the input again.
    emit({ type: 'toolCall', callId, tool: toolRef, input }, 64 + inputJson.length);
  }

  /**
   * The delegate's call inside its span (GenAI's execute_tool): the span ends when the delegate
   * settles, whatever the cell did meanwhile; one still running when the cell closes is ended then
   * as abandoned at the shared deadline (abandonSpans).
   */
  #traced(call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined> {
    const attributes = {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': call.tool.name,
      'gen_ai.tool.call.id': call.callId,
      'codecell.tool.namespace': call.tool.namespace,
      'codecell.cell.id': call.cellId,
    };
    const { spans, span, delegate } = this.#options;
    const name = `execute_tool ${call.tool.name}`;
    return spans.traced(name, attributes, span(), signal, () => delegate.invokeTool(call, signal));
  }

  /** Calls a person approved before this run makes them (a recovery makes them again): they go marked approved. */
  approvedAlready(callIds: readonly string[]): void {
    if (callIds.length > 0) this.#approved = new Set(callIds);
  }

  /** A call paused by a CellInterrupt before a snapshot: it waits for answer() again. */
  restorePaused(callId: string): void {
    this.#outstanding.set(callId, 0);
  }

  /** Gives the call a CellInterrupt paused at its outcome (resumeCell), checked as a delegate's. */
  answer(callId: string, toolId: string, answer: CallOutcome): void {
    const { maxToolResultBytes, maxToolErrorBytes } = this.#options.limits;
    if ('error' in answer) return this.#settle(callId, false, toolErrorText(answer.error, maxToolErrorBytes));
    let payload: string;
    try {
      payload = resultText(`tools.${toolId}`, answer.result, maxToolResultBytes);
    } catch (error) {
      return this.#settle(callId, false, messageOf(error));
    }
    this.#settle(callId, true, payload);
  }

  #admit(name: string, { kind, check }: CellTool, inputJson: string, inputBytes: number): JsonValue {
    const { maxToolInputBytes } = this.#options.limits;
    if (this.#outstanding.size >= MAX_OUTSTANDING_TOOL_CALLS) {
      throw new Error(`${name} refused: ${MAX_OUTSTANDING_TOOL_CALLS} tool calls of this cell are already in flight`);
    }
    if (inputBytes > maxToolInputBytes) {
      throw new Error(`${name} input is ${inputBytes} bytes, over the maxToolInputBytes limit of ${maxToolInputBytes}`);
    }
    // Calls waiting for a slot hold their input too: twice what the running ones may hold.
    const inFlightBound = 2 * this.#options.limits.maxConcurrentToolCalls * maxToolInputBytes;
    if (this.#inputBytes + inputBytes > inFlightBound) {
      throw new Error(
        `${name} refused: this cell's tool calls in flight already hold ${this.#inputBytes} bytes ` +
          `of input (at most ${inFlightBound}: 2 × maxConcurrentToolCalls × maxToolInputBytes)`,
      );
    }
    const input = parseJsonText(inputJson);
    // The sandbox checked this too, but a cell can bend its own checks (toJSON, prototypes).
    const isObject = input !== null && typeof input === 'object' && !Array.isArray(input);
    if (input === undefined || (kind === 'function' ? !isObject : typeof input !== 'string')) {
      throw new TypeError(`${name} expects ${kind === 'function' ? 'an object' : 'a string'} input`);
    }
    check?.(input);
    return input;
  }

  /** Whether the cell still takes the call's outcome (after it ended, outcomes are abandoned). */
  #wanted(callId: string): boolean {
    return this.#options.accepting() && this.#outstanding.has(callId);
  }

  #settle(callId: string, ok: boolean, payload: string, errorKind = ''): void {
    const ahead = this.#options.writeAhead;
    if (ahead === undefined) return this.#deliver(callId, ok, payload, errorKind);
    // After the cell ended, results are abandoned: nothing is recorded (nor delivered).
    if (!this.#wanted(callId)) return;
    // With a store, the cell takes the outcome once its record is durable (never, if it cannot be).
    this.#recording++;
    const recorded = (): void => {
      if (--this.#recording === 0) this.#options.recorded();
    };
    ahead.answered(this.#options.id, callId, ok, payload, errorKind).then(() => {
      this.#deliver(callId, ok, payload, errorKind);
      recorded();
    }, recorded);
  }

  #deliver(callId: string, ok: boolean, payload: string, errorKind: string): void {
    // After the cell ended, results are abandoned: no event, no delivery.
    const inputBytes = this.#outstanding.get(callId);
    if (inputBytes === undefined || !this.#options.accepting()) return;
    this.#outstanding.delete(callId);
    this.#inputBytes -= inputBytes;
    this.#options.settle(callId, ok, payload, errorKind);
    // The event is bookkeeping, the result is what the cell waits for: the event follows the
    // delivery's promise job (in the same turn, before anything the cell does with the result).
    const event: CellStreamEvent = ok
      ? { type: 'toolResult', callId, ok }
      : { type: 'toolResult', callId, ok, error: payload };
    queueMicrotask(() => this.#options.emit(event));
  }
}

/** How a call names its tool: its name, and its namespace if it has one. */
export function toolRefOf(tool: CellTool | undefined): { name: string; namespace?: string } {
  if (tool === undefined) return { name: 'unknown' };
  const { name, namespace } = tool.definition;
  return namespace === undefined ? { name } : { name, namespace };
}

/** The warning for the calls a finished cell had not received (SPEC §5), if any. */
export function danglingWarning(callIds: readonly string[]): string[] {
  const ids = [...new Set(callIds)];
  return ids.length === 0
    ? []
    : [`Warning: ${ids.length} tool call(s) were still running when the cell finished: ${ids.join(', ')}`];
}

/** An error of the kind errorKindOf named ('' for a plain Error). */
export function errorOfKind(kind: unknown, message: string): Error {
  return kind === 'TypeError'
    ? new TypeError(message)
    : kind === 'RangeError'
      ? new RangeError(message)
      : new Error(message);
}

/** The kind of error the cell's call rejects with: a TypeError or RangeError stays one. */
export function errorKindOf(error: unknown): string {
  try {
    return error instanceof TypeError ? 'TypeError' : error instanceof RangeError ? 'RangeError' : '';
  } catch {
    return ''; // a revoked proxy, or a getPrototypeOf trap that throws
  }
}

/** The delegate's value as JSON text within maxToolResultBytes, or the error the call fails with. */
function resultText(name: string, value: unknown, maxBytes: number): string {
  let payload: string;
  try {
    payload = toJsonText(value);
  } catch (error) {
    throw new Error(`${name} returned a value that is not JSON: ${messageOf(error)}`);
  }
  const size = byteLength(payload);
  if (size > maxBytes)
    throw new Error(`${name} result is ${size} bytes, over the maxToolResultBytes limit of ${maxBytes}`);
  return payload;
}
