// isolated-vm reports everything as plain Errors: the table of messages that mean something,
// and the error text a cell sees (its own stack, without the host's frames).
import type IsolatedVm from 'isolated-vm-6';
import { CodeCellError, messageOf, type CodeCellErrorCode } from '../errors.js';

/** isolated-vm reports everything as plain Errors; these are the messages that mean something. */
export const ISOLATE_ERROR_TABLE: readonly { pattern: RegExp; code: CodeCellErrorCode }[] = [
  { pattern: /disposed during execution due to memory limit/, code: 'ERR_MEMORY_LIMIT' },
  { pattern: /Isolate was disposed during execution/, code: 'ERR_ISOLATE_DISPOSED' },
  { pattern: /Isolate is disposed/, code: 'ERR_ISOLATE_DISPOSED' },
  { pattern: /Reference has been released/, code: 'ERR_ISOLATE_DISPOSED' },
];

/** The CodeCellError for an isolated-vm failure, or undefined when the error came from cell code. */
export function translateIsolateError(error: unknown): CodeCellError | undefined {
  if (!(error instanceof Error)) return undefined;
  const row = ISOLATE_ERROR_TABLE.find(({ pattern }) => pattern.test(error.message));
  return row === undefined ? undefined : new CodeCellError(row.code, error.message, { cause: error });
}

const BOUNDARY_FRAME = /\n\s+at \(<isolated-vm boundary>\)[\s\S]*$/;

/** The stack of a value copied out of the isolate (an Error, or any object with one), without the host's frames. */
export function cellStackOf(error: unknown): string | undefined {
  try {
    const stack = error !== null && typeof error === 'object' ? (error as { stack?: unknown }).stack : undefined;
    return typeof stack === 'string' ? stack.replace(BOUNDARY_FRAME, '') : undefined;
  } catch {
    return undefined; // a throwing getter
  }
}

/** The error text of SPEC §5: the stack as the cell saw it, without the host's frames. */
export function describeCellError(error: unknown): string {
  if (error instanceof Error) {
    const stack = cellStackOf(error);
    if (stack !== undefined) return stack;
  }
  return messageOf(error);
}

/** Hints for the mistakes models make most, appended to the compiler's message. */
const COMPILE_HINTS: readonly { pattern: RegExp; hint: string }[] = [];

/** A compile error of a cell, with a hint when it is a known model-shaped mistake. */
export function describeCompileError(error: unknown): string {
  const description = describeCellError(error);
  const row = COMPILE_HINTS.find(({ pattern }) => pattern.test(description));
  return row === undefined ? description : `${description} (${row.hint})`;
}

/**
 * Explains a compile failure of the wrapped cell in terms of the user's own source: an import
 * is named as unsupported, a syntax error gets its hint.
 * @internal
 */
export async function explainCompileError(
  isolate: IsolatedVm.Isolate,
  source: string,
  filename: string,
  error: unknown,
): Promise<string> {
  const failure = translateIsolateError(error);
  if (failure !== undefined) throw failure;
  try {
    const raw = await isolate.compileModule(source, { filename });
    const specifier = raw.dependencySpecifiers[0];
    raw.release();
    if (specifier !== undefined) return `Unsupported import in cell: ${specifier}`;
  } catch (rawError) {
    const raw = describeCompileError(rawError);
    // A cell that returns at its top level: what failed is its run as a function body.
    if (!raw.startsWith('SyntaxError: Illegal return statement')) return raw;
  }
  return describeCompileError(error);
}
