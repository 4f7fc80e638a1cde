// How a cell's values print (console.* and the fallback of text()): Node's util.inspect layout
// with its default options (depth 2, breakLength 80, compact 3) for the common types, so what a
// model sees matches what it saw in Node. Loaded before prelude.ts into the same closure; it
// never throws, whatever it is given. The walk over an object graph is in inspect.ts.

const INSPECT_DEPTH = 2;
const BREAK_LENGTH = 80;
const COMPACT = 3;
const MAX_ITEMS = 100;
const IDENTIFIER = /^[a-zA-Z_][a-zA-Z_0-9]*$/;
const ESCAPES: Record<string, string> = {
  '\n': '\\n',
  '\t': '\\t',
  '\r': '\\r',
  '\b': '\\b',
  '\f': '\\f',
  '\v': '\\v',
  '\\': '\\\\',
};

function quoteString(text: string): string {
  const quote = !text.includes("'")
    ? "'"
    : !text.includes('"')
      ? '"'
      : !text.includes('`') && !text.includes('${')
        ? '`'
        : "'";
  let escaped = text.replace(/[\\\n\t\r\b\f\v]/g, (c) => ESCAPES[c] ?? c);
  if (quote === "'") escaped = escaped.replace(/'/g, "\\'");
  return quote + escaped + quote;
}

function readProperty(target: object, key: PropertyKey): unknown {
  try {
    return (target as Record<PropertyKey, unknown>)[key];
  } catch {
    return undefined;
  }
}

function nameOf(target: object): string {
  const name = readProperty(target, 'name');
  return typeof name === 'string' ? name : '';
}

function functionBase(fn: Function): string {
  let source = '';
  try {
    source = Function.prototype.toString.call(fn);
  } catch {
    // a revoked proxy
  }
  const name = nameOf(fn);
  if (source.startsWith('class')) {
    const parent = Object.getPrototypeOf(fn) as object | null;
    const extended = parent !== null && parent !== Function.prototype ? ` extends ${nameOf(parent)}` : '';
    return `[class ${name === '' ? '(anonymous)' : name}${extended}]`;
  }
  const ctor = readProperty(fn, 'constructor');
  const kind = typeof ctor === 'function' && nameOf(ctor) !== '' ? nameOf(ctor) : 'Function';
  return `[${kind}${name === '' ? ' (anonymous)' : `: ${name}`}]`;
}

/** `Foo ` for instances of a class, `[Object: null prototype] ` without a prototype, else ''. */
function constructorPrefix(object: object, plain: string): string {
  let proto: object | null;
  try {
    proto = Object.getPrototypeOf(object) as object | null;
  } catch {
    return '';
  }
  if (proto === null) return `[${plain}: null prototype] `;
  const ctor = readProperty(proto, 'constructor');
  const name = typeof ctor === 'function' ? nameOf(ctor) : '';
  return name !== '' && name !== plain ? `${name} ` : '';
}

/** Node's column layout of long arrays of short entries (util.inspect's groupArrayElements). */
function groupArrayElements(output: string[], indentation: number, numeric: boolean): string[] {
  const hasMore = output.length > 0 && /^\.\.\. \d+ more items?$/.test(output[output.length - 1] ?? '');
  const count = hasMore ? output.length - 1 : output.length;
  let totalLength = 0;
  let maxLength = 0;
  for (let i = 0; i < count; i++) {
    const length = (output[i] ?? '').length;
    totalLength += length + 2;
    if (length > maxLength) maxLength = length;
  }
  const actualMax = maxLength + 2;
  if (actualMax * 3 + indentation >= BREAK_LENGTH || (totalLength / actualMax <= 5 && maxLength > 6)) return output;
  const averageBias = Math.sqrt(actualMax - totalLength / output.length);
  const biasedMax = Math.max(actualMax - 3 - averageBias, 1);
  const columns = Math.min(
    Math.round(Math.sqrt(2.5 * biasedMax * count) / biasedMax),
    Math.floor((BREAK_LENGTH - indentation) / actualMax),
    COMPACT * 4,
    15,
  );
  if (columns <= 1) return output;
  const widths: number[] = [];
  for (let column = 0; column < columns; column++) {
    let width = 0;
    for (let j = column; j < count; j += columns) width = Math.max(width, (output[j] ?? '').length);
    widths.push(width + 2);
  }
  const rows: string[] = [];
  for (let i = 0; i < count; i += columns) {
    const end = Math.min(i + columns, count);
    let row = '';
    for (let j = i; j < end - 1; j++) {
      const cell = `${output[j]}, `;
      row += numeric ? cell.padStart(widths[j - i] ?? 0) : cell.padEnd(widths[j - i] ?? 0);
    }
    const last = output[end - 1] ?? '';
    row += numeric ? last.padStart((widths[end - 1 - i] ?? 2) - 2) : last;
    rows.push(row);
  }
  if (hasMore) rows.push(output[count] ?? '');
  return rows;
}

/** A run of holes in an array, printed as `<n empty items>`. */
class Holes {
  constructor(readonly text: string) {}
}

/** An array's items for printing (at most MAX_ITEMS), each run of holes as one Holes. */
function arrayItems(list: ArrayLike<unknown>): unknown[] {
  const items: unknown[] = [];
  for (let index = 0; index < list.length && items.length < MAX_ITEMS; index++) {
    if (index in list) {
      items.push(list[index]);
      continue;
    }
    let holes = 0;
    while (index < list.length && !(index in list)) {
      holes++;
      index++;
    }
    index--;
    items.push(new Holes(`<${holes} empty item${holes === 1 ? '' : 's'}>`));
  }
  return items;
}

/** console.log's formatting: printf-style directives in a first string argument, then inspect. */
function codecellFormat(args: unknown[]): string {
  const [first, ...rest] = args;
  if (typeof first !== 'string' || rest.length === 0 || !first.includes('%'))
    return args.map((arg) => codecellInspect(arg)).join(' ');
  const head = first.replace(/%([sdifjoO%])/g, (directive, kind: string) => {
    if (kind === '%') return '%';
    if (rest.length === 0) return directive;
    const arg = rest.shift();
    if (kind === 's') return typeof arg === 'string' ? arg : codecellInspect(arg);
    if (kind === 'd' || kind === 'i') {
      if (typeof arg === 'bigint') return `${arg}n`;
      return String(kind === 'i' ? Math.trunc(Number(arg)) : Number(arg));
    }
    if (kind === 'f') return String(Number(arg));
    if (kind === 'j') {
      try {
        return JSON.stringify(arg) ?? 'undefined';
      } catch {
        return '[Circular]';
      }
    }
    return codecellInspect(arg);
  });
  return [head, ...rest.map((arg) => codecellInspect(arg))].join(' ');
}
