// Reading `Content-Length` frames (vscode-jsonrpc's framing) from a peer that may send anything:
// a frame's header is bounded, parsing is linear in the bytes received, and after a malformed
// header the reader resynchronises at the next `Content-Length:` instead of losing the stream.
import type { Readable } from 'node:stream';
import { AbstractMessageReader, Disposable, type DataCallback, type Message, type MessageReader } from 'vscode-jsonrpc/node.js';

/** The longest header block accepted (vscode-jsonrpc's are ~25 bytes). */
const MAX_HEADER_BYTES = 8 * 1024;
/** The largest body accepted (a cell's source and outputs are bounded far below this). */
const MAX_BODY_BYTES = 256 * 1024 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = Buffer.from('Content-Length:');

/** What the reader hands on: a frame's body, or why bytes were skipped. */
export type FrameSink = { body(text: string): Message | undefined; malformed(reason: string): void };

export class FramedReader extends AbstractMessageReader implements MessageReader {
  readonly #input: Readable;
  readonly #sink: FrameSink;
  #buffer: Buffer = Buffer.alloc(0);
  /** Chunks received after #buffer, not yet joined (a large body is joined once, when complete). */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Where the search for the header's end resumes (the bytes before it were searched). */
  #scanned = 0;
  #bodyLength: number | undefined;

  constructor(input: Readable, sink: FrameSink) {
    super();
    this.#input = input;
    this.#sink = sink;
  }

  listen(callback: DataCallback): Disposable {
    const onData = (chunk: Buffer): void => {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      for (let message = this.#next(); message !== null; message = this.#next()) {
        if (message === undefined) continue;
        try {
          callback(message);
        } catch (error) {
          // A message the dispatcher chokes on (e.g. `$/cancelRequest` with params by position).
          this.fireError(error instanceof Error ? error : new Error(String(error)));
        }
      }
    };
    const onError = (error: Error): void => this.fireError(error);
    const onClose = (): void => this.fireClose();
    this.#input.on('data', onData);
    this.#input.on('error', onError);
    this.#input.on('close', onClose);
    return Disposable.create(() => {
      this.#input.off('data', onData);
      this.#input.off('error', onError);
      this.#input.off('close', onClose);
    });
  }

  /** The next frame's message (undefined: a frame that decoded to nothing), or null: need bytes. */
  #next(): Message | undefined | null {
    const available = this.#buffer.length + this.#pendingBytes;
    if (this.#bodyLength !== undefined ? available < this.#bodyLength : this.#pendingBytes === 0 && this.#scanned >= this.#buffer.length) return null;
    if (this.#pending.length > 0) {
      this.#buffer = Buffer.concat([this.#buffer, ...this.#pending]);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    if (this.#bodyLength === undefined) {
      const end = this.#buffer.indexOf(HEADER_END, Math.max(0, this.#scanned - HEADER_END.length + 1));
      if (end < 0) {
        this.#scanned = this.#buffer.length;
        if (this.#buffer.length > MAX_HEADER_BYTES) this.#resync(`a header longer than ${MAX_HEADER_BYTES} bytes`, 1);
        return null;
      }
      const length = contentLength(this.#buffer.subarray(0, end).toString('ascii'));
      if (typeof length === 'string') {
        // The next frame may start inside the rejected block (after junk that had no header).
        this.#resync(length, 1);
        return undefined;
      }
      this.#bodyLength = length;
      this.#buffer = this.#buffer.subarray(end + HEADER_END.length);
      this.#scanned = 0;
    }
    if (this.#buffer.length < this.#bodyLength) return null;
    const body = this.#buffer.subarray(0, this.#bodyLength).toString('utf8');
    this.#buffer = this.#buffer.subarray(this.#bodyLength);
    this.#bodyLength = undefined;
    return this.#sink.body(body);
  }

  /** Reports bytes that are no frame and drops them, up to the next `Content-Length:` from `from`. */
  #resync(reason: string, from: number): void {
    this.#sink.malformed(reason);
    const next = this.#buffer.indexOf(CONTENT_LENGTH, from);
    // Without one, keep only what could be the start of one (never the bytes just rejected).
    this.#buffer = this.#buffer.subarray(next < 0 ? Math.max(from, this.#buffer.length - CONTENT_LENGTH.length + 1) : next);
    this.#scanned = 0;
  }
}

/** The header block's Content-Length, or why it has none that can be used. */
function contentLength(header: string): number | string {
  let length: number | string = 'a header without Content-Length';
  for (const line of header.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) return `a malformed header line: ${JSON.stringify(line.slice(0, 80))}`;
    if (line.slice(0, colon).trim().toLowerCase() !== 'content-length') continue;
    const value = line.slice(colon + 1).trim();
    if (!/^\d+$/.test(value) || Number(value) > MAX_BODY_BYTES) return `an unusable Content-Length: ${JSON.stringify(value.slice(0, 40))}`;
    length = Number(value);
  }
  return length;
}
