// How the sandbox turns a cell's values into text and JSON: text()'s rule, the strict JSON of a
// tool input, and an error's description without the prelude's own frames. Loaded with the other
// sandbox files into the prelude's closure; the intrinsics are captured before any cell runs, so a
// cell that replaces JSON or String only breaks itself.

const codecellStringifyJson = JSON.stringify;
const codecellParseJson = JSON.parse;
const codecellToText = String;

/** JSON text of a value, throwing on what JSON would silently drop or mangle. */
function codecellStrictJson(value: unknown): string {
  const text = codecellStringifyJson(value, (_key, item: unknown) => {
    const type = typeof item;
    if (type === 'function' || type === 'symbol' || type === 'bigint') {
      throw new TypeError(`a ${type} is not JSON-serializable`);
    }
    return item;
  });
  if (typeof text !== 'string') {
    throw new TypeError(`${value === undefined ? 'undefined' : typeof value} is not JSON-serializable`);
  }
  return text;
}

function codecellSafeString(value: unknown): string {
  try {
    return codecellToText(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** The text() rule of SPEC §5: primitives via String(), everything else as JSON (if it can be). */
function codecellRender(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol'))
    return codecellToText(value);
  try {
    const text = codecellStringifyJson(value);
    if (typeof text === 'string') return text;
  } catch {
    // cyclic, BigInt inside, throwing toJSON: shown as console.log would (format.ts)
    return codecellInspect(value);
  }
  return codecellSafeString(value);
}

/** A value's JSON text, or '' when it has none. */
function codecellJsonOrNone(value: unknown): string {
  try {
    const text = codecellStringifyJson(value);
    return typeof text === 'string' ? text : '';
  } catch {
    return '';
  }
}

/** What a cell's top-level `return value` outputs: the value's JSON (else as text() shows it). */
function codecellReturnedText(value: unknown): string {
  return codecellJsonOrNone(value) || codecellRender(value);
}

/** An error's stack without the prelude's frames (they say nothing to the cell's author), or its text. */
function codecellDescribeError(error: unknown, calledAt?: number): string {
  if (error !== null && typeof error === 'object') {
    try {
      const stack = (error as { stack?: unknown }).stack;
      // (calledAt: the line of the wrapper's call of a cell that returns at its top level.)
      const wrapper = calledAt === undefined ? undefined : `:${calledAt}:`;
      if (typeof stack === 'string' && stack !== '')
        return stack
          .split('\n')
          .filter((line) => !line.includes('codecell-prelude.js') && !(wrapper !== undefined && line.includes(wrapper)))
          .join('\n');
    } catch {
      // a throwing getter: use the string form
    }
  }
  return codecellSafeString(error);
}

function codecellDescribeMessage(error: unknown): string {
  return error instanceof Error ? error.message : codecellSafeString(error);
}
