// The WebSocket carrier (the `ws` package): one JSON-RPC message per WebSocket text message, in
// both directions. Backpressure as over stdio: once more than HIGH_WATER_BYTES were sent and
// not yet taken by the socket, messages wait here; a peer that leaves more than maxQueuedBytes
// unread is given up (the socket is terminated).
import type { Duplex } from 'node:stream';
import type { Message } from 'vscode-jsonrpc/node.js';
import WebSocket from 'ws';
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

/** Sent and not yet written to the socket: above this, messages wait for the socket to take them. */
const HIGH_WATER_BYTES = 1024 * 1024;

const noop = (): void => {};

export function socketCarrier(socket: WebSocket, stream?: Duplex): Carrier {
  return {
    reader: (sink) => new SocketReader(socket, sink),
    writer: (hooks, maxQueuedBytes) => new SocketWriter(socket, hooks, maxQueuedBytes, stream),
    flush: () =>
      new Promise<void>((resolve) => {
        // A ping with a callback is written after everything sent before it.
        if (socket.readyState !== WebSocket.OPEN) resolve();
        else socket.ping(undefined, undefined, () => resolve());
      }),
    onEnd: (callback) => void socket.once('close', callback),
    end: () => socket.close(1000),
  };
}

class SocketReader extends EventMessageReader {
  protected readonly source: WebSocket;
  protected readonly dataEvent = 'message';
  readonly #sink: FrameSink;

  constructor(socket: WebSocket, sink: FrameSink) {
    super();
    this.source = socket;
    this.#sink = sink;
  }

  pause(): void {
    this.source.pause();
  }

  resume(): void {
    this.source.resume();
  }

  /** One WebSocket message is one JSON-RPC message. */
  protected read(received: unknown[], emit: (message: Message | undefined) => void): void {
    const [data, isBinary] = received as [WebSocket.RawData, boolean];
    if (isBinary) {
      this.#sink.malformed('a binary WebSocket message (codecell speaks JSON text messages)');
      return;
    }
    emit(
      this.#sink.body(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(toBuffers(data)).toString('utf8')),
    );
  }
}

function toBuffers(data: WebSocket.RawData): Buffer[] {
  if (Array.isArray(data)) return data;
  return [Buffer.from(data as ArrayBuffer)];
}

class SocketWriter extends TextMessageWriter {
  readonly #socket: WebSocket;
  protected readonly hooks: WriterHooks;
  readonly #maxQueuedBytes: number;
  /** Bytes handed to the socket whose send has not completed. */
  #sending = 0;
  /** Messages waiting for the socket (over HIGH_WATER_BYTES in flight), with their settles. */
  #waiting: { body: string; settle: () => void }[] = [];
  #waitingBytes = 0;
  #failed = false;
  /** The WebSocket's byte stream, if known: corked for a turn, so that a turn's messages leave in one write. */
  readonly #stream: Duplex | undefined;
  #corked = false;
  readonly #turns = new Turns(() => {
    if (!this.#corked) return;
    this.#corked = false;
    this.#stream?.uncork();
  });

  constructor(socket: WebSocket, hooks: WriterHooks, maxQueuedBytes = DEFAULT_MAX_QUEUED_BYTES, stream?: Duplex) {
    super();
    this.#socket = socket;
    this.#stream = stream;
    this.hooks = hooks;
    this.#maxQueuedBytes = maxQueuedBytes;
    socket.on('error', (error) => this.#fail(error));
  }

  push(body: string): void {
    this.#write(body, noop);
  }

  writeText(body: string): Promise<void> {
    return new Promise((settle) => this.#write(body, settle));
  }

  /** Resolves once every message sent so far was handed to the socket (none waits here any more). */
  written(): Promise<void> {
    const last = this.#waiting.at(-1);
    if (last === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const settle = last.settle;
      last.settle = () => {
        settle();
        resolve();
      };
    });
  }

  #write(body: string, settle: () => void): void {
    if (this.#failed) return settle();
    if (this.#socket.readyState !== WebSocket.OPEN) {
      this.#fail(new Error('the WebSocket is closed'));
      return settle();
    }
    if (this.#sending < HIGH_WATER_BYTES && this.#waiting.length === 0) return this.#send(body, settle);
    if (this.#waitingBytes + body.length + this.#socket.bufferedAmount > this.#maxQueuedBytes) {
      this.#overflow();
      return settle();
    }
    this.#waiting.push({ body, settle });
    this.#waitingBytes += body.length;
  }

  #send(body: string, settle: () => void): void {
    this.#corkForTurn();
    this.#sending += body.length;
    this.#socket.send(body, (error) => {
      this.#sending -= body.length;
      if (error != null) this.#fail(error);
      settle();
      this.#pump();
    });
  }

  /** The messages sent until this turn of the event loop ends go out together, a lone one at once (Turns). */
  #corkForTurn(): void {
    const alone = this.#turns.message();
    const stream = this.#stream;
    if (alone || stream === undefined || this.#corked || stream.destroyed) return;
    this.#corked = true;
    stream.cork();
  }

  /** Sends what waited, as far as the socket takes it. */
  #pump(): void {
    while (this.#waiting.length > 0 && this.#sending < HIGH_WATER_BYTES && !this.#failed) {
      const next = this.#waiting.shift() as { body: string; settle: () => void };
      this.#waitingBytes -= next.body.length;
      this.#send(next.body, next.settle);
    }
  }

  #overflow(): void {
    const queued = this.#waitingBytes + this.#socket.bufferedAmount;
    const error = overflowError(queued, this.#maxQueuedBytes);
    this.#fail(error);
    this.#socket.terminate();
    this.hooks.overflow?.(error);
  }

  #fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = true;
    for (const { settle } of this.#waiting) settle();
    this.#waiting = [];
    this.#waitingBytes = 0;
    this.hooks.lost(error);
  }
}
