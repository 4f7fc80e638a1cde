/** Every error codecell throws. Callers switch on `code`, never on `message`. */
export const ERROR_CODES = [
  'ERR_SHUTTING_DOWN',
  'ERR_MISSING_CELL',
  'ERR_BUSY_OBSERVER',
  'ERR_ALREADY_TERMINATING',
  'ERR_INVALID_REQUEST',
  'ERR_LIMIT_EXCEEDED',
  'ERR_NODE_SNAPSHOT',
  'ERR_UNSUPPORTED_NODE',
  'ERR_HOST_EXITED',
  'ERR_PROTOCOL',
  'ERR_SETUP_TIMEOUT',
  'ERR_UNAUTHORIZED',
  'ERR_HOST_UNREACHABLE',
  'ERR_SESSION_MOVED',
  'ERR_STORE_FAILED',
  // Internal causes, reported through events rather than thrown at callers.
  'ERR_CANCELLED',
  'ERR_ISOLATE_DISPOSED',
  'ERR_MEMORY_LIMIT',
] as const;

/** The code of a CodeCellError (README: Errors). */
export type CodeCellErrorCode = (typeof ERROR_CODES)[number];

/** Every error codecell raises on its public paths, with a code from ERROR_CODES. */
export class CodeCellError extends Error {
  override readonly name = 'CodeCellError';
  readonly code: CodeCellErrorCode;

  constructor(code: CodeCellErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Never throws, whatever was thrown (a revoked Proxy makes `instanceof` itself throw). */
export function isCodeCellError(error: unknown, code?: CodeCellErrorCode): error is CodeCellError {
  try {
    return error instanceof CodeCellError && (code === undefined || error.code === code);
  } catch {
    return false;
  }
}

/** A readable one-line message for anything thrown; never throws (hostile getters, proxies). */
export function messageOf(error: unknown): string {
  try {
    if (error instanceof Error) {
      const message: unknown = error.message;
      if (typeof message === 'string') return message;
    }
    return String(error);
  } catch {
    try {
      return Object.prototype.toString.call(error);
    } catch {
      return 'an error that cannot be read';
    }
  }
}

/** How many causes of an error a cell is told of. */
const MAX_CAUSES = 8;

/** `error.cause`, or undefined; never throws (hostile getters, proxies). */
function causeOf(error: unknown): unknown {
  try {
    return error instanceof Error ? error.cause : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A delegate's error as a cell is told of it: its message, then each cause's (`Caused by: …`),
 * within `maxBytes` of UTF-8 (cut with a note saying so): a tool's error never costs the cell
 * more than a bounded copy, however large the message it was given.
 */
export function toolErrorText(error: unknown, maxBytes: number): string {
  let text = messageOf(error);
  const seen = new Set<unknown>([error]);
  let cause = causeOf(error);
  for (let depth = 0; depth < MAX_CAUSES && cause !== undefined && !seen.has(cause); depth++) {
    if (text.length > maxBytes) break; // cut below anyway
    seen.add(cause);
    text += `\nCaused by: ${messageOf(cause)}`;
    cause = causeOf(cause);
  }
  return cutText(text, maxBytes, 'maxToolErrorBytes');
}

/** `text` within `maxBytes` of UTF-8: as it is, or its start and a note naming the limit. */
export function cutText(text: string, maxBytes: number, limit: string): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes: a text this short fits without counting.
  if (text.length * 3 <= maxBytes) return text;
  const size = Buffer.byteLength(text);
  if (size <= maxBytes) return text;
  const note = ` … [cut: ${size} bytes, over the ${limit} limit of ${maxBytes}]`;
  const room = Math.max(0, maxBytes - Buffer.byteLength(note));
  // Sliced by units first, so a huge text is never copied whole; a character cut in two is dropped.
  const head = Buffer.from(text.slice(0, room))
    .subarray(0, room)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
  return head + note;
}

export const invalidRequest = (message: string): CodeCellError => new CodeCellError('ERR_INVALID_REQUEST', message);

/** resumeCell of a cell that no CellInterrupt paused (the same words in-process and remotely). */
export const notInterrupted = (cellId: string): CodeCellError =>
  invalidRequest(`cell ${cellId} is not interrupted: only an interrupted cell resumes`);

/**
 * ERR_MISSING_CELL for a cell id a session cannot address: one of its cells that finished (its
 * outcome is handed out once, to the first observe, terminate or wait after its end) says so.
 */
export function missingCell(cellId: string, finished: boolean): CodeCellError {
  return new CodeCellError(
    'ERR_MISSING_CELL',
    finished
      ? `cell ${cellId} has finished: its outcome was already returned (each outcome is handed out once)`
      : `unknown cell ${cellId}`,
  );
}

/**
 * Marks a promise handed to a caller as handled, so that a caller who never awaits it is not
 * crashed by its rejection (STYLE 20); whoever awaits it still gets the rejection.
 */
export function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
