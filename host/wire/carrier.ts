// What carries JSON-RPC messages between a client and a host: a pair of byte streams with
// Content-Length frames (stdio, the default: streamCarrier in framing.ts), or a WebSocket with
// one message per WebSocket message (socketCarrier in websocket.ts). The connection (jsonrpc.ts)
// sees only this interface, so a new transport is one more Carrier and nothing else changes.
import type { EventEmitter } from 'node:events';
import {
  AbstractMessageReader,
  AbstractMessageWriter,
  Disposable,
  type DataCallback,
  type Message,
  type MessageReader,
  type MessageWriter,
} from 'vscode-jsonrpc/node.js';
/** What a reader hands on: a message's text, or why bytes were skipped. */
export type FrameSink = { body(text: string): Message | undefined; malformed(reason: string): void };

/** What a writer reports: each message vscode-jsonrpc wrote, and the first failure. */
export interface WriterHooks {
  written(message: { id?: unknown; method?: unknown }): void;
  /** The output failed, or the peer left more than `maxQueuedBytes` unread: later writes are dropped. */
  lost(error: Error): void;
  /** The peer left more than `maxQueuedBytes` unread (after `lost`): whoever owns the connection gives it up. */
  overflow?(error: Error): void;
}

/** How much a peer that does not read may leave waiting before the writer gives it up. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** Why a writer gave its peer up: `queued` bytes left unread, over `maxQueuedBytes`. */
export function overflowError(queued: number, maxQueuedBytes: number): Error {
  return new Error(
    `the peer left ${queued} bytes unread, over the ${maxQueuedBytes}-byte bound; the connection is given up`,
  );
}

/** A writer that also sends messages serialised already (answers handled outside vscode-jsonrpc). */
export interface TextWriter extends MessageWriter {
  /** Sends one whole message; resolves once it was handed to the transport. Never rejects. */
  writeText(body: string): Promise<void>;
  /** Sends one whole message, as writeText, with no promise (most messages are never waited for). */
  push(body: string): void;
  /** Resolves once every message sent so far was handed to the transport. Never rejects. */
  written(): Promise<void>;
}

/**
 * A writer's messages per turn of the event loop. What is written in one turn leaves together at
 * its end (the calls a cell makes at once reach this process as one callback each, every one
 * followed by its own microtasks), but the first message of a turn after a turn of one message at
 * most leaves at once: a lone call or answer (sequential calls) does not wait for the turn's end,
 * and the peer starts on it while this side finishes the turn (~7–10 µs of a sequential round trip
 * over stdio; one more write when lone calls turn into a batch).
 */
export class Turns {
  #now = 0;
  #last = 0;
  readonly #ended: () => void;

  /** `ended`: a turn that wrote ends (its check phase): what waited leaves. */
  constructor(ended: () => void) {
    this.#ended = ended;
  }

  /** Counts one message; true when it leaves at once. */
  message(): boolean {
    if (this.#now++ > 0) return false;
    setImmediate(this.#end);
    return this.#last <= 1;
  }

  readonly #end = (): void => {
    this.#last = this.#now;
    this.#now = 0;
    this.#ended();
  };
}

/** A writer of whole messages: `write` serialises and hands on to `writeText`, which each transport sends. */
export abstract class TextMessageWriter extends AbstractMessageWriter implements TextWriter {
  protected abstract readonly hooks: WriterHooks;

  write(message: Message): Promise<void> {
    this.hooks.written(message as { id?: unknown; method?: unknown });
    let body: string;
    try {
      body = JSON.stringify(message);
    } catch (error) {
      this.fireError(error, message);
      return Promise.resolve();
    }
    return this.writeText(body);
  }

  abstract writeText(body: string): Promise<void>;

  abstract push(body: string): void;

  abstract written(): Promise<void>;

  end(): void {}
}

/** A reader whose input can be held back: the peer feels it as backpressure (its writes wait). */
export interface PausableReader extends MessageReader {
  /** Stops reading the peer's input (what was read is still handed on). */
  pause(): void;
  resume(): void;
}

/** A reader whose transport hands it data by an event; each message found goes to the callback. */
export abstract class EventMessageReader extends AbstractMessageReader implements PausableReader {
  /** Where data, 'error' and 'close' come from (a stream, a WebSocket). */
  protected abstract readonly source: EventEmitter;
  protected abstract readonly dataEvent: string;

  /** Hands each message of one delivery of the data event to `emit` (undefined ones are skipped). */
  protected abstract read(data: unknown[], emit: (message: Message | undefined) => void): void;

  abstract pause(): void;

  abstract resume(): void;

  listen(callback: DataCallback): Disposable {
    const emit = (message: Message | undefined): void => {
      if (message === undefined) return;
      try {
        callback(message);
      } catch (error) {
        // A message the dispatcher chokes on (e.g. `$/cancelRequest` with params by position).
        this.fireError(error instanceof Error ? error : new Error(String(error)));
      }
    };
    const onData = (...data: unknown[]): void => this.read(data, emit);
    const onError = (error: Error): void => this.fireError(error);
    const onClose = (): void => this.fireClose();
    this.source.on(this.dataEvent, onData);
    this.source.on('error', onError);
    this.source.on('close', onClose);
    return Disposable.create(() => {
      this.source.off(this.dataEvent, onData);
      this.source.off('error', onError);
      this.source.off('close', onClose);
    });
  }
}

export interface Carrier {
  /** Where the peer's messages arrive: each whole message's text goes to `sink.body`. */
  reader(sink: FrameSink): PausableReader;
  /** Where messages leave; `hooks` hears each one, the first failure and an overflow. */
  writer(hooks: WriterHooks, maxQueuedBytes?: number): TextWriter;
  /** Resolves once what the writer handed on left this process (or could not). */
  flush(): Promise<void>;
  /** Calls `callback` once, when the peer's side ended (its input closed). */
  onEnd(callback: () => void): void;
  /** Ends this side (the peer sees its input end). */
  end(): void;
}
