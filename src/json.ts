import type { JsonValue } from './types.js';

/**
 * A delegate's value made by JSON.parse of a peer's message (codecell-host's forwarding delegate
 * resolves a tool call with one): it holds no function, symbol, BigInt or cycle, so toJsonText
 * serialises it without checking. The mark travels with the value and goes with it.
 */
export class ParsedJson {
  readonly value: JsonValue | undefined;

  constructor(value: JsonValue | undefined) {
    this.value = value;
  }
}

/**
 * JSON text of a delegate's value, refusing what JSON.stringify would silently drop or mangle
 * at any depth (functions, symbols, BigInts) and what it cannot encode (cycles).
 * `undefined` at the top level encodes as '' (the tool returned nothing).
 */
export function toJsonText(value: unknown): string {
  if (value instanceof ParsedJson) return JSON.stringify(value.value) ?? '';
  if (value === undefined) return '';
  // A replacer takes JSON.stringify off V8's fast path (a call into JavaScript per key): values
  // that cannot hold what it refuses are serialised without it.
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return JSON.stringify(value);
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
