// store() and load() (SPEC §5): JSON values kept for the session's later cells, within
// maxStoredBytes (keys and JSON texts, UTF-8, for the whole session), and the UTF-8 size of a
// text as the host counts it. Loaded with the other sandbox files into the prelude's closure.

/** UTF-8 bytes of a text, as Buffer.byteLength counts them (a lone surrogate is 3). */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code < 0xdc00 && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

interface StoredValues {
  store(key: unknown, value: unknown): undefined;
  load(key: unknown): unknown;
}

function codecellStoredValues(
  initial: Record<string, string>,
  initialBytes: number,
  maxBytes: number,
  toJson: (value: unknown) => string,
  fromJson: (text: string) => unknown,
  describe: (error: unknown) => string,
  send: (key: string, json: string) => void,
): StoredValues {
  const values = new Map(Object.entries(initial));
  const sizeOf = (key: string, json: string | undefined): number =>
    json === undefined ? 0 : utf8Length(key) + utf8Length(json);
  // The host keeps the total as it commits writes: no need to measure every value again here.
  let total = initialBytes;
  return {
    store: (key, value) => {
      if (typeof key !== 'string') throw new TypeError('store() key must be a string');
      let json: string;
      try {
        json = toJson(value);
      } catch (error) {
        throw new TypeError(`store() value for "${key}" is not JSON-serializable: ${describe(error)}`);
      }
      const next = total - sizeOf(key, values.get(key)) + sizeOf(key, json);
      if (next > maxBytes)
        throw new RangeError(`store("${key}") would keep ${next} bytes, over the maxStoredBytes limit of ${maxBytes}`);
      values.set(key, json);
      total = next;
      send(key, json);
      return undefined;
    },
    load: (key) => {
      if (typeof key !== 'string') throw new TypeError('load() key must be a string');
      const json = values.get(key);
      return json === undefined ? undefined : fromJson(json);
    },
  };
}
