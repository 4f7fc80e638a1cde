// util.inspect's walk over an object graph, for codecellInspect (format.ts has the layout helpers).
// One Inspector per call: it tracks the objects being printed (for `[Circular *n]`), the current
// indentation and the deepest level reached (for the compact layout).

/** A value printed as console.log would print it; never throws. */
function codecellInspect(value: unknown): string {
  return new Inspector().format(value, 0, false);
}

/** What an object prints as, before its entries are joined into one line or several. */
interface ObjectParts {
  base: string;
  open: string;
  entries: string[];
  total: number;
  arrayLike: boolean;
}

class Inspector {
  readonly #ancestors: object[] = [];
  readonly #refs = new Map<object, number>();
  #indentation = 0;
  #currentDepth = 0;

  format(item: unknown, depth: number, nested: boolean): string {
    const simple = inspectPrimitive(item, nested);
    if (simple !== undefined) return simple;
    const object = item as object;
    if (this.#ancestors.includes(object)) {
      if (!this.#refs.has(object)) this.#refs.set(object, this.#refs.size + 1);
      return `[Circular *${this.#refs.get(object)}]`;
    }
    this.#ancestors.push(object);
    try {
      const body = this.#formatObject(object, depth);
      const ref = this.#refs.get(object);
      return ref === undefined ? body : `<ref *${ref}> ${body}`;
    } finally {
      this.#ancestors.pop();
    }
  }

  #formatObject(object: object, depth: number): string {
    if (object instanceof Error) return this.#errorText(object);
    if (object instanceof Date) return Number.isNaN(object.getTime()) ? 'Invalid Date' : object.toISOString();
    if (object instanceof RegExp) return object.toString();
    const keys = Reflect.ownKeys(object).filter((key) => Object.prototype.propertyIsEnumerable.call(object, key));
    const parts =
      Array.isArray(object) || (ArrayBuffer.isView(object) && !(object instanceof DataView))
        ? this.#arrayParts(object as unknown as ArrayLike<unknown>, keys, depth)
        : object instanceof Map || object instanceof Set
          ? this.#collectionParts(object, keys, depth)
          : this.#plainParts(object, keys, depth);
    if (typeof parts === 'string') return parts;
    this.#currentDepth = depth;
    const { base, open, entries, total, arrayLike } = parts;
    const shown = arrayLike ? Math.min(total, MAX_ITEMS) : entries.length;
    if (total > shown) entries.push(`... ${total - shown} more item${total - shown === 1 ? '' : 's'}`);
    const close = open.startsWith('[') || open.endsWith('[') ? ']' : '}';
    return this.#joinEntries(parts, close, depth, object);
  }

  #property(object: object, key: string | symbol, depth: number): string {
    return `${inspectKey(key)}: ${this.format(readProperty(object, key), depth + 1, true)}`;
  }

  #arrayParts(list: ArrayLike<unknown>, keys: (string | symbol)[], depth: number): ObjectParts | string {
    const prefix = Array.isArray(list)
      ? constructorPrefix(list, 'Array')
      : `${constructorPrefix(list, 'Object').trim()}(${list.length}) `;
    if (list.length === 0 && keys.length === 0) return `${prefix}[]`;
    if (depth > INSPECT_DEPTH) return `[${prefix.trim() || 'Array'}]`;
    const entries = this.#nested(arrayItems(list), (item) =>
      item instanceof Holes ? item.text : this.format(item, depth + 1, true),
    );
    const named = keys.filter((key) => typeof key !== 'string' || !/^\d+$/.test(key));
    entries.push(...this.#nested(named, (key) => this.#property(list, key, depth)));
    return { base: '', open: `${prefix}[`, entries, total: list.length, arrayLike: true };
  }

  #collectionParts(object: Map<unknown, unknown> | Set<unknown>, keys: unknown[], depth: number): ObjectParts | string {
    const kind = object instanceof Map ? 'Map' : 'Set';
    const prefix = `${constructorPrefix(object, kind).trim() || kind}(${object.size}) `;
    if (object.size === 0 && keys.length === 0) return `${prefix}{}`;
    if (depth > INSPECT_DEPTH) return `[${kind}]`;
    const child = (entry: unknown): string => this.format(entry, depth + 1, true);
    const items = [...object.entries()].slice(0, MAX_ITEMS);
    const entries = this.#nested(items, ([key, entry]) =>
      object instanceof Map ? `${child(key)} => ${child(entry)}` : child(entry),
    );
    return { base: '', open: `${prefix}{`, entries, total: object.size, arrayLike: false };
  }

  #plainParts(object: object, keys: (string | symbol)[], depth: number): ObjectParts | string {
    const base = typeof object === 'function' ? functionBase(object) : '';
    const open = base === '' ? `${constructorPrefix(object, 'Object')}{` : '{';
    if (keys.length === 0) return base !== '' ? base : `${open}}`;
    if (depth > INSPECT_DEPTH) return `[${base !== '' ? 'Function' : open.slice(0, -1).trim() || 'Object'}]`;
    const entries = this.#nested(keys.slice(0, MAX_ITEMS), (key) => this.#property(object, key, depth));
    return { base, open, entries, total: keys.length, arrayLike: false };
  }

  /** Formats each entry one level deeper (indented two more columns). */
  #nested<T>(items: readonly T[], render: (item: T) => string): string[] {
    this.#indentation += 2;
    try {
      return items.map(render);
    } finally {
      this.#indentation -= 2;
    }
  }

  #joinEntries(parts: ObjectParts, close: string, depth: number, object: object): string {
    const { base, open, entries: output, arrayLike } = parts;
    const count = output.length;
    let lines = output;
    if (arrayLike && count > 6) lines = groupArrayElements(output, this.#indentation, allNumeric(object, count));
    const head = base === '' ? '' : `${base} `;
    if (this.#currentDepth - depth < COMPACT && count === lines.length) {
      const start = lines.length + this.#indentation + open.length + base.length + 10;
      let length = lines.length + start;
      let fits = length + lines.length <= BREAK_LENGTH;
      for (const line of lines) {
        length += line.length;
        if (length > BREAK_LENGTH) fits = false;
      }
      const joined = lines.join(', ');
      if (fits && !base.includes('\n') && !joined.includes('\n')) return `${head}${open} ${joined} ${close}`;
    }
    const pad = `\n${' '.repeat(this.#indentation)}`;
    return `${head}${open}${pad}  ${lines.join(`,${pad}  `)}${pad}${close}`;
  }

  #errorText(error: Error): string {
    const stack = readProperty(error, 'stack');
    const text =
      typeof stack === 'string' && stack !== ''
        ? stack
        : `[${nameOf(error)}: ${String(readProperty(error, 'message'))}]`;
    return this.#indentation === 0 ? text : text.split('\n').join(`\n${' '.repeat(this.#indentation)}`);
  }
}

/** True when the first `count` items of an array-like are all numbers or bigints (right-aligned columns). */
function allNumeric(object: object, count: number): boolean {
  const list = object as ArrayLike<unknown>;
  for (let i = 0; i < Math.min(list.length, count); i++) {
    const item = list[i];
    if (typeof item !== 'number' && typeof item !== 'bigint') return false;
  }
  return true;
}

function inspectKey(key: string | symbol): string {
  return typeof key === 'symbol' ? key.toString() : IDENTIFIER.test(key) ? key : quoteString(key);
}

function inspectPrimitive(item: unknown, nested: boolean): string | undefined {
  if (item === null) return 'null';
  switch (typeof item) {
    case 'string':
      return nested ? quoteString(item) : item;
    case 'number':
      return Object.is(item, -0) ? '-0' : String(item);
    case 'bigint':
      return `${String(item)}n`;
    case 'symbol':
      return item.toString();
    case 'undefined':
      return 'undefined';
    case 'boolean':
      return String(item);
    default:
      return undefined;
  }
}
