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

export const invalidRequest = (message: string): CodeCellError => new CodeCellError('ERR_INVALID_REQUEST', message);

/**
 * Marks a promise handed to a caller as handled, so that a caller who never awaits it is not
 * crashed by its rejection (STYLE 20); whoever awaits it still gets the rejection.
 */
export function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
