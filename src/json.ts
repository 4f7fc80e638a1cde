import type { JsonValue } from './types.js';

/**
 * The objects most recently made by JSON.parse of a peer's message (see fromParsedJson): a ring,
 * not a WeakSet, whose add (an ephemeron's write barrier) cost as much as the check it saves on a
 * small result. A value pushed out of it is only checked again, as any other.
 */
const parsedJson: (object | undefined)[] = new Array<object | undefined>(32).fill(undefined);
let nextMark = 0;

/**
 * Marks a value just made by JSON.parse (a tool result read from the wire): it holds no function,
 * symbol, BigInt or cycle, so toJsonText serialises it without checking while it is among the 32
 * values marked last (the calls of one read, up to a batch of 32). It must not be changed after.
 */
export function fromParsedJson<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    parsedJson[nextMark] = value;
    nextMark = (nextMark + 1) % parsedJson.length;
  }
  return value;
}

/**
 * JSON text of a delegate's value, refusing what JSON.stringify would silently drop or mangle
 * at any depth (functions, symbols, BigInts) and what it cannot encode (cycles).
 * `undefined` at the top level encodes as '' (the tool returned nothing).
 */
export function toJsonText(value: unknown): string {
  if (value === undefined) return '';
  // A replacer takes JSON.stringify off V8's fast path (a call into JavaScript per key): values
  // that cannot hold what it refuses are serialised without it.
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return JSON.stringify(value);
  if (typeof value === 'object' && parsedJson.includes(value)) return JSON.stringify(value);
  const text = JSON.stringify(value, (_key, item: unknown) => {
    const type = typeof item;
    if (type === 'function' || type === 'symbol' || type === 'bigint') {
      throw new TypeError(`a ${type} is not a JSON value`);
    }
    return item;
  });
  if (typeof text !== 'string') throw new TypeError(`${typeof value} is not a JSON value`);
  return text;
}

export function parseJsonText(text: string): JsonValue | undefined {
  return text === '' ? undefined : (JSON.parse(text) as JsonValue);
}

export function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
