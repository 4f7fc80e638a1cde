// Argument checks for the public API: every bad input becomes ERR_INVALID_REQUEST with a message
// that names the field.
import { invalidRequest, messageOf } from './errors.js';
import { toJsonText } from './json.js';
import { checkLimits } from './limits.js';
import { toolIdentifier } from './tools/tool-names.js';
import type { CellTool } from './cell/tool-calls.js';
import type {
  CallOutcome,
  CellAnswer,
  JsonValue,
  Logger,
  ObserveMode,
  SessionRuntimeDelegate,
  ToolDefinition,
} from './types.js';

const LANGUAGES = ['javascript', 'typescript', 'auto'] as const;
const TOOL_KINDS = ['function', 'freeform'] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function optionalString(record: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = record[key];
  if (value !== undefined && typeof value !== 'string') throw invalidRequest(`${where}.${key} must be a string`);
  return value;
}

export function checkCellId(cellId: unknown): string {
  if (typeof cellId !== 'string' || cellId === '') throw invalidRequest('cellId must be a non-empty string');
  return cellId;
}

export function checkObserveMode(mode: unknown, where = 'mode'): ObserveMode {
  if (!isRecord(mode)) throw invalidRequest(`${where} must be an object such as { kind: 'yieldAfter', ms: 1000 }`);
  if (mode.kind === 'pendingFrontier') return { kind: 'pendingFrontier' };
  if (mode.kind === 'yieldAfter') {
    const { ms } = mode;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      throw invalidRequest(`${where}.ms must be a finite number >= 0, got ${String(ms)}`);
    }
    return { kind: 'yieldAfter', ms: Math.min(ms, 2_147_483_647) };
  }
  throw invalidRequest(`${where}.kind must be 'yieldAfter' or 'pendingFrontier', got ${String(mode.kind)}`);
}

function checkTool(value: unknown, where: string): ToolDefinition {
  if (!isRecord(value)) throw invalidRequest(`${where} must be an object`);
  const { name, kind } = value;
  if (typeof name !== 'string' || name === '') throw invalidRequest(`${where}.name must be a non-empty string`);
  const namespace = optionalString(value, 'namespace', where);
  if (namespace === '') throw invalidRequest(`${where}.namespace must not be empty`);
  optionalString(value, 'description', where);
  for (const flag of ['validateInput', 'idempotent'])
    if (value[flag] !== undefined && typeof value[flag] !== 'boolean')
      throw invalidRequest(`${where}.${flag} must be a boolean`);
  if (kind !== undefined && !(TOOL_KINDS as readonly unknown[]).includes(kind)) {
    throw invalidRequest(`${where}.kind must be 'function' or 'freeform'`);
  }
  return value as unknown as ToolDefinition;
}

/** Validates tool definitions and gives each its cell identifier; identifiers must be unique. */
export function checkTools(value: unknown, where: string): CellTool[] {
  if (!Array.isArray(value)) throw invalidRequest(`${where} must be an array of tool definitions`);
  const seen = new Map<string, string>();
  return value.map((item, index) => {
    const definition = checkTool(item, `${where}[${index}]`);
    const id = toolIdentifier(definition);
    const previous = seen.get(id);
    if (previous !== undefined) {
      throw invalidRequest(`${where}[${index}] is exposed as tools.${id}, which ${previous} already is`);
    }
    seen.set(id, `${where}[${index}]`);
    return { id, definition, kind: definition.kind ?? 'function' };
  });
}

export interface CheckedExecuteRequest {
  source: string;
  toolCallId: string | undefined;
  tools: CellTool[] | undefined;
  language: (typeof LANGUAGES)[number];
  limits: ReturnType<typeof checkLimits>;
  filename: string | undefined;
}

export function checkExecuteRequest(request: unknown): CheckedExecuteRequest {
  if (!isRecord(request)) throw invalidRequest('request must be an object with a source string');
  const { source, language = 'auto' } = request;
  if (typeof source !== 'string') throw invalidRequest('request.source must be a string');
  if (source.trim() === '') throw invalidRequest('request.source is empty');
  const toolCallId = optionalString(request, 'toolCallId', 'request');
  if (toolCallId === '') throw invalidRequest('request.toolCallId must not be empty');
  if (!(LANGUAGES as readonly unknown[]).includes(language)) {
    throw invalidRequest(`request.language must be one of ${LANGUAGES.join(', ')}`);
  }
  return {
    source,
    toolCallId,
    tools: request.tools === undefined ? undefined : checkTools(request.tools, 'request.tools'),
    language: language as CheckedExecuteRequest['language'],
    limits: checkLimits(request.limits, 'request.limits', true),
    filename: checkFilename(request.filename),
  };
}

function checkFilename(filename: unknown): string | undefined {
  if (filename === undefined) return undefined;
  if (typeof filename !== 'string' || filename === '' || filename.length > 256 || /[\r\n\0]/.test(filename)) {
    throw invalidRequest('request.filename must be a file name of one line (at most 256 characters)');
  }
  return filename;
}

export function checkDelegate(delegate: unknown): SessionRuntimeDelegate {
  if (!isRecord(delegate) && typeof delegate !== 'function') {
    throw invalidRequest('delegate must be an object with invokeTool and notify methods');
  }
  const record = delegate as Record<string, unknown>;
  // aiSdkToolSource is async: `delegate: aiSdkToolSource(…)` without await passes its promise.
  if (typeof record.then === 'function')
    throw invalidRequest('delegate is a Promise: await it first (aiSdkToolSource(…) is async)');
  for (const method of ['invokeTool', 'notify']) {
    if (typeof record[method] !== 'function') throw invalidRequest(`delegate.${method} must be a function`);
  }
  if (record.cellClosed !== undefined && typeof record.cellClosed !== 'function') {
    throw invalidRequest('delegate.cellClosed must be a function when given');
  }
  return delegate as unknown as SessionRuntimeDelegate;
}

export function checkLogger(logger: unknown): Logger | undefined {
  if (logger === undefined) return undefined;
  if (!isRecord(logger) || typeof logger.warn !== 'function' || typeof logger.error !== 'function') {
    throw invalidRequest('options.logger must have warn and error methods');
  }
  return logger as unknown as Logger;
}

export function checkOptionsObject(options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (!isRecord(options)) throw invalidRequest('options must be an object');
  return options;
}

/** An optional callback option: a function, or undefined. */
export function checkCallback<F extends (...args: never[]) => unknown>(value: unknown, name: string): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw invalidRequest(`options.${name} must be a function`);
  return value as F | undefined;
}

export function checkDeadlineMs(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidRequest('options.callbackAbortDeadlineMs must be an integer >= 0');
  }
  return value;
}

/** A session key's form: what a key may hold so that a call's idempotency key can go anywhere (a header, _meta). */
const SESSION_KEY = /^[\w.:/@-]{1,200}$/;

/** A session's `key` when given: 1–200 letters, digits or `_ . : / @ -`. */
export function checkSessionKey(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !SESSION_KEY.test(value))
    throw invalidRequest(`${where} must be 1-200 letters, digits or _ . : / @ - (the session's key)`);
  return value;
}

export function checkStoredValues(value: unknown): 'enabled' | 'disabled' {
  if (value === undefined) return 'enabled';
  if (value !== 'enabled' && value !== 'disabled')
    throw invalidRequest("options.storedValues must be 'enabled' or 'disabled'");
  return value;
}

/** suspend()'s options: the signal, checked. */
export function checkSuspendOptions(options: unknown): AbortSignal | undefined {
  const { signal } = checkOptionsObject(options);
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw invalidRequest('options.signal must be an AbortSignal');
  return signal;
}

const ANSWER_FORMS = '{ result }, { error }, { approved: true }, { declined: true, reason? } or { retry: true }';

/**
 * resumeCell's answer: a call's outcome (checkCallOutcome), or a person's decision: `{ approved:
 * true }`, or `{ declined: true }` with an optional `reason` (a string).
 */
export function checkCellAnswer(answer: unknown): CellAnswer {
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer))
    throw invalidRequest(`answer must be ${ANSWER_FORMS}`);
  if (Object.hasOwn(answer, 'approved')) {
    const extra = Object.keys(answer).filter((key) => key !== 'approved');
    if ((answer as { approved: unknown }).approved !== true || extra.length > 0)
      throw invalidRequest(`answer.approved must be true, alone (answer is ${ANSWER_FORMS})`);
    return { approved: true };
  }
  if (Object.hasOwn(answer, 'retry')) {
    if ((answer as { retry: unknown }).retry !== true || Object.keys(answer).length > 1)
      throw invalidRequest(`answer.retry must be true, alone (answer is ${ANSWER_FORMS})`);
    return { retry: true };
  }
  if (Object.hasOwn(answer, 'declined')) {
    const { declined, reason } = answer as { declined: unknown; reason?: unknown };
    const extra = Object.keys(answer).filter((key) => key !== 'declined' && key !== 'reason');
    if (declined !== true || extra.length > 0)
      throw invalidRequest(`answer.declined must be true, with at most a reason (answer is ${ANSWER_FORMS})`);
    if (reason !== undefined && typeof reason !== 'string') throw invalidRequest('answer.reason must be a string');
    return reason === undefined ? { declined: true } : { declined: true, reason };
  }
  return checkCallOutcome(answer);
}

/**
 * A call's outcome: `{ result }` (a JSON value, or undefined for none) or `{ error }` (a
 * message, or an Error whose message is taken), not both.
 */
export function checkCallOutcome(answer: unknown): CallOutcome {
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer))
    throw invalidRequest('answer must be { result } or { error }');
  const hasResult = Object.hasOwn(answer, 'result');
  const hasError = Object.hasOwn(answer, 'error');
  const unknown = Object.keys(answer).filter((key) => key !== 'result' && key !== 'error');
  if (unknown.length > 0)
    throw invalidRequest(`answer has unknown field(s) ${unknown.join(', ')}: it is { result } or { error }`);
  if (hasResult === hasError) throw invalidRequest('answer must have exactly one of result and error');
  if (hasError) {
    const { error } = answer as { error: unknown };
    if (typeof error === 'string') return { error };
    if (error instanceof Error) return { error: messageOf(error) };
    throw invalidRequest('answer.error must be a string or an Error');
  }
  const { result } = answer as { result: unknown };
  try {
    toJsonText(result);
  } catch (error) {
    throw invalidRequest(`answer.result is not JSON: ${messageOf(error)}`);
  }
  return { result: result as JsonValue | undefined };
}
