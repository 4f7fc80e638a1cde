// `Content-Length` frames (vscode-jsonrpc's framing). Reading from a peer that may send anything:
// a frame's header is bounded, parsing is linear in the bytes received, and after a malformed
// header the reader resynchronises at the next `Content-Length:` instead of losing the stream.
// Writing: each message, header and body, in one piece, and the messages of one turn in one write
// (but a lone one at once: Turns).
import { isAscii } from 'node:buffer';
import type { Readable, Writable } from 'node:stream';
import type { Message, MessageReader, MessageWriter } from 'vscode-jsonrpc/node.js';
import {
  DEFAULT_MAX_QUEUED_BYTES,
  EventMessageReader,
  overflowError,
  TextMessageWriter,
  Turns,
  type Carrier,
  type FrameSink,
  type WriterHooks,
} from './carrier.js';

export { DEFAULT_MAX_QUEUED_BYTES };

/** The longest header block accepted (vscode-jsonrpc's are ~25 bytes). */
const MAX_HEADER_BYTES = 8 * 1024;
/** The largest body accepted (a cell's source and outputs are bounded far below this). */
const MAX_BODY_BYTES = 256 * 1024 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = Buffer.from('Content-Length:');

export class FramedReader extends EventMessageReader implements MessageReader {
  protected readonly source: Readable;
  protected readonly dataEvent = 'data';
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
    this.source = input;
    this.#sink = sink;
  }

  pause(): void {
    this.source.pause();
  }

  resume(): void {
    this.source.resume();
  }

  /** The frames completed by one chunk of input. */
  protected read(data: unknown[], emit: (message: Message | undefined) => void): void {
    let chunk = data[0] as Buffer;
    // Most often a chunk brings whole frames, in ASCII (JSON escapes the rest), after a whole frame:
    // read as text, a byte is a character, and no buffer is cut per frame. The rest, as bytes.
    if (this.#buffer.length === 0 && this.#pendingBytes === 0 && this.#bodyLength === undefined && isAscii(chunk)) {
      chunk = chunk.subarray(wholeFrames(chunk.toString('latin1'), (body) => emit(this.#sink.body(body))));
      if (chunk.length === 0) return;
    }
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    for (let message = this.#next(); message !== null; message = this.#next()) emit(message);
  }

  /** The next frame's message (undefined: a frame that decoded to nothing), or null: need bytes. */
  #next(): Message | undefined | null {
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
    this.#buffer = this.#buffer.subarray(
      next < 0 ? Math.max(from, this.#buffer.length - CONTENT_LENGTH.length + 1) : next,
    );
    this.#scanned = 0;
  }
}

/**
 * Hands on the bodies of the whole frames at the start of `text`; returns where the first partial
 * one (or one whose header cannot be used) begins, for the byte-wise reader, which also reports
 * what is malformed.
 */
function wholeFrames(text: string, body: (text: string) => void): number {
  let at = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0 || end - at > MAX_HEADER_BYTES) return at;
    const length = contentLength(text.slice(at, end));
    const start = end + HEADER_END.length;
    if (typeof length === 'string' || start + length > text.length) return at;
    at = start + length;
    body(text.slice(start, at));
  }
}

const DIGITS = /^\d+$/;

/** The header block's Content-Length, or why it has none that can be used. */
function contentLength(header: string): number | string {
  // The usual header, as vscode-jsonrpc and codecell write it, read without splitting.
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

/** A batch this large is written at once instead of at the end of the turn. */
const FLUSH_NOW_BYTES = 64 * 1024;

/**
 * Writes frames in batches, a turn of the event loop at a time (Turns): a turn's messages leave in
 * one `write` at its end (its check phase), one batch of 16 calls in one write, not 16, but a lone
 * message leaves at once; a batch past 64 KiB leaves at once. Backpressure is honoured: once the
 * output needs draining, what follows waits here until it drains, and a peer that leaves more than
 * `maxQueuedBytes` unread is given up (the output is destroyed). Writes never reject; the first
 * failure is reported to `lost` (the peer went away: the connection's close fails what was
 * pending).
 */
export class FramedWriter extends TextMessageWriter implements MessageWriter {
  readonly #output: Writable;
  protected readonly hooks: WriterHooks;
  readonly #maxQueuedBytes: number;
  #batch = '';
  #written: Promise<void> | undefined;
  #settle: (() => void) | undefined;
  #failed = false;
  /** The output needs draining: batches wait for its 'drain'. */
  #blocked = false;
  readonly #turns = new Turns(() => this.#endOfTurn());

  constructor(output: Writable, hooks: WriterHooks, maxQueuedBytes = DEFAULT_MAX_QUEUED_BYTES) {
    super();
    this.#output = output;
    this.hooks = hooks;
    this.#maxQueuedBytes = maxQueuedBytes;
    // A peer that went away shows as an 'error' on its pipe (EPIPE): reported, never thrown.
    output.on('error', (error) => this.#fail(error));
    output.on('drain', () => {
      this.#blocked = false;
      if (this.#batch !== '') this.#flush();
    });
  }

  /** Sends a message already serialised: at once when alone, else with its turn's batch. */
  push(body: string): void {
    if (this.#failed) return;
    const first = this.#batch === '';
    this.#batch += `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    if (this.#blocked && this.#batch.length + this.#output.writableLength > this.#maxQueuedBytes) {
      this.#overflow();
      return;
    }
    const alone = this.#turns.message();
    // A large batch leaves at once, so the output's backpressure (and the bound) apply to the rest.
    if (!this.#blocked && ((first && alone) || this.#batch.length >= FLUSH_NOW_BYTES)) this.#flush();
  }

  /** Sends a message; resolves once its batch was written (the stream's callback: a failure is known then). */
  writeText(body: string): Promise<void> {
    if (this.#failed) return Promise.resolve();
    // Taken before the push: a batch that leaves at once settles it from the stream's callback.
    const written = this.#batchWritten();
    this.push(body);
    return written;
  }

  /** Resolves once what was sent so far was handed to the stream (its batch written). */
  written(): Promise<void> {
    return this.#batch === '' || this.#failed ? Promise.resolve() : this.#batchWritten();
  }

  /** The current batch's promise, made when first asked for (#flush settles it). */
  #batchWritten(): Promise<void> {
    this.#written ??= new Promise<void>((resolve) => (this.#settle = resolve));
    return this.#written;
  }

  /** The turn's batch leaves, unless a large batch left already or the output needs draining. */
  #endOfTurn(): void {
    if (this.#batch !== '' && !this.#blocked) this.#flush();
  }

  /** Bytes written and not yet taken by the peer (waiting here or in the output stream). */
  get queuedBytes(): number {
    return this.#batch.length + this.#output.writableLength;
  }

  #flush(): void {
    const batch = this.#batch;
    const settle = this.#settle;
    this.#batch = '';
    this.#written = undefined;
    this.#settle = undefined;
    const done = (error?: Error | null): void => {
      if (error != null) this.#fail(error);
      settle?.();
    };
    if (this.#failed || this.#output.writableEnded || this.#output.destroyed) {
      done(this.#failed ? undefined : new Error('the output stream is closed'));
      return;
    }
    try {
      // false: the output needs draining; what follows waits for its 'drain'.
      if (!this.#output.write(batch, 'utf8', done)) this.#blocked = true;
    } catch (error) {
      done(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** The peer left too much unread: it is given up, and what waited is dropped. */
  #overflow(): void {
    const queued = this.queuedBytes;
    this.#batch = '';
    this.#settle?.();
    this.#written = undefined;
    this.#settle = undefined;
    const error = overflowError(queued, this.#maxQueuedBytes);
    this.#fail(error);
    this.#output.destroy();
    this.hooks.overflow?.(error);
  }

  #fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = true;
    this.hooks.lost(error);
  }
}

/** Content-Length frames over a pair of streams: a child's stdio, or linked streams in a test. */
export function streamCarrier(input: Readable, output: Writable): Carrier {
  return {
    reader: (sink) => new FramedReader(input, sink),
    writer: (hooks, maxQueuedBytes) => new FramedWriter(output, hooks, maxQueuedBytes),
    flush: () =>
      new Promise<void>((resolve) =>
        output.writableEnded || output.destroyed ? resolve() : output.write('', () => resolve()),
      ),
    // A pipe's 'close' may never come while its other end is half open: the end of input is enough.
    onEnd: (callback) => void input.once('end', callback),
    end: () => void output.end(),
  };
}
