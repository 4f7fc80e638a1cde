// `Content-Length` frames (the LSP base protocol's framing). Reading from a peer that may send
// anything: a frame's header is bounded, parsing is linear in the bytes received, and after a
// malformed header the reader resynchronises at the next `Content-Length:` instead of losing the
// stream. Writing: each batch of messages (BatchWriter) in one write, each frame's header and body
// together.
import type { Readable, Writable } from 'node:stream';
import {
  BatchWriter,
  DEFAULT_MAX_QUEUED_BYTES,
  type Carrier,
  type FrameSink,
  type Outlet,
  type WriterBounds,
  type WriterHooks,
} from './carrier.js';

export { DEFAULT_MAX_QUEUED_BYTES };

/** The longest header block accepted (the usual one is ~25 bytes). */
const MAX_HEADER_BYTES = 8 * 1024;
/** The largest body accepted (a cell's source and outputs are bounded far below this). */
export const MAX_BODY_BYTES = 256 * 1024 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = Buffer.from('Content-Length:');
/** The usual header's start, as codecell and most peers write it (`Content-Length: 51\r\n\r\n`). */
const USUAL_PREFIX = Buffer.from('Content-Length: ');
/** The most digits the usual header's length has (MAX_BODY_BYTES has 9). */
const MAX_LENGTH_DIGITS = 9;
const CR = 13;
const LF = 10;

/** Reads the frames of a byte stream, each body's text to the sink. */
export class FramedReader {
  readonly #input: Readable;
  readonly #sink: FrameSink;
  #buffer: Buffer = Buffer.alloc(0);
  /** Chunks received after #buffer, not yet joined (a large body is joined once, when complete). */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Where the search for the header's end resumes (the bytes before it were searched). */
  #scanned = 0;
  #bodyLength: number | undefined;
  #stopped = false;
  readonly #onData = (chunk: Buffer): void => this.#read(chunk);

  constructor(input: Readable, sink: FrameSink) {
    this.#input = input;
    this.#sink = sink;
    input.on('data', this.#onData);
  }

  /** No body reaches the sink after this, not even the rest of the chunk being read. */
  stop(): void {
    this.#stopped = true;
    this.#input.off('data', this.#onData);
  }

  /** The frames completed by one chunk of input. */
  #read(chunk: Buffer): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    // What a body ran may have stopped the reader (a delegate called at once closing its client).
    for (let body = this.#next(); body !== null && !this.#stopped; body = this.#next())
      if (body !== undefined) this.#sink.body(body);
  }

  /** The next frame's body (undefined: bytes that were no frame, reported), or null: need bytes. */
  #next(): string | undefined | null {
    const available = this.#buffer.length + this.#pendingBytes;
    if (
      this.#bodyLength !== undefined
        ? available < this.#bodyLength
        : this.#pendingBytes === 0 && this.#scanned >= this.#buffer.length
    )
      return null;
    if (this.#pending.length > 0) {
      // Most often one chunk arrives on an empty buffer: take it as is, without copying.
      this.#buffer =
        this.#buffer.length === 0 && this.#pending.length === 1
          ? (this.#pending[0] as Buffer)
          : Buffer.concat([this.#buffer, ...this.#pending]);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    this.#bodyLength ??= this.#usualHeader();
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
    const body = this.#buffer.toString('utf8', 0, this.#bodyLength);
    this.#buffer = this.#buffer.subarray(this.#bodyLength);
    this.#bodyLength = undefined;
    return body;
  }

  /**
   * Reads the usual header at the buffer's start byte by byte (no search, no string made), and
   * returns its length. Any other header, or one not all here yet, is left to the general reading.
   */
  #usualHeader(): number | undefined {
    const buffer = this.#buffer;
    const digits = USUAL_PREFIX.length;
    if (buffer.length < digits + 5) return undefined;
    for (let at = 0; at < digits; at++) if (buffer[at] !== USUAL_PREFIX[at]) return undefined;
    let length = 0;
    let at = digits;
    for (; at < digits + MAX_LENGTH_DIGITS && at < buffer.length; at++) {
      const digit = (buffer[at] as number) - 48;
      if (digit < 0 || digit > 9) break;
      length = length * 10 + digit;
    }
    if (at === digits || length > MAX_BODY_BYTES) return undefined;
    if (buffer[at] !== CR || buffer[at + 1] !== LF || buffer[at + 2] !== CR || buffer[at + 3] !== LF) return undefined;
    this.#buffer = buffer.subarray(at + HEADER_END.length);
    this.#scanned = 0;
    return length;
  }

  /** Reports bytes that are no frame and drops them, up to the next `Content-Length:` from `from`. */
  #resync(reason: string, from: number): void {
    this.#sink.malformed(reason);
    const next = this.#buffer.indexOf(CONTENT_LENGTH, from);
    // Without one, keep only what could be the start of one (never the bytes just rejected).
    this.#buffer = this.#buffer.subarray(
      next < 0 ? Math.max(from, this.#buffer.length - CONTENT_LENGTH.length + 1) : next,
    );
    this.#scanned = 0;
  }
}

const DIGITS = /^\d+$/;

/** The header block's Content-Length, or why it has none that can be used. */
function contentLength(header: string): number | string {
  // The usual header, as codecell and most peers write it, read without splitting.
  if (header.startsWith('Content-Length: ') && header.length <= 26) {
    const value = header.slice(16);
    if (DIGITS.test(value) && Number(value) <= MAX_BODY_BYTES) return Number(value);
  }
  let length: number | string = 'a header without Content-Length';
  for (const line of header.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) return `a malformed header line: ${JSON.stringify(line.slice(0, 80))}`;
    if (line.slice(0, colon).trim().toLowerCase() !== 'content-length') continue;
    const value = line.slice(colon + 1).trim();
    if (!DIGITS.test(value) || Number(value) > MAX_BODY_BYTES)
      return `an unusable Content-Length: ${JSON.stringify(value.slice(0, 40))}`;
    length = Number(value);
  }
  return length;
}

/** A stream as a BatchWriter's outlet: a batch's frames in one write. */
function streamOutlet(output: Writable): Outlet {
  return {
    write: (bodies, done) => {
      if (output.writableEnded || output.destroyed) throw new Error('the output stream is closed');
      let frames = '';
      for (const body of bodies) frames += `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      return done === undefined ? output.write(frames, 'utf8') : output.write(frames, 'utf8', done);
    },
    get pendingBytes() {
      return output.writableLength;
    },
    onDrain: (callback) => void output.on('drain', callback),
    onError: (callback) => void output.on('error', callback),
    destroy: () => void output.destroy(),
  };
}

/** The writer of frames to a stream. */
export function streamWriter(output: Writable, hooks: WriterHooks, bounds?: WriterBounds): BatchWriter {
  return new BatchWriter(streamOutlet(output), hooks, bounds);
}

/** Content-Length frames over a pair of streams: a child's stdio, or linked streams in a test. */
export function streamCarrier(input: Readable, output: Writable): Carrier {
  return {
    read: (sink) => new FramedReader(input, sink),
    writer: (hooks, bounds) => streamWriter(output, hooks, bounds),
    flush: () =>
      new Promise<void>((resolve) =>
        output.writableEnded || output.destroyed ? resolve() : output.write('', () => resolve()),
      ),
    // A pipe's 'close' may never come while its other end is half open: the end of input is enough.
    onEnd: (callback) => {
      let ended = false;
      const end = (): void => {
        if (!ended) callback();
        ended = true;
      };
      input.once('end', end);
      input.once('close', end);
      input.on('error', end);
    },
    end: () => void output.end(),
  };
}
