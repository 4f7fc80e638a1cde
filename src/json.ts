import type { JsonValue } from './types.js';

/**
 * JSON text of a delegate's value, refusing what JSON.stringify would silently drop or mangle
 * at any depth (functions, symbols, BigInts) and what it cannot encode (cycles).
 * `undefined` at the top level encodes as '' (the tool returned nothing).
 */
export function toJsonText(value: unknown): string {
  if (value === undefined) return '';
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
