// What carries JSON-RPC messages between a client and a host: a pair of byte streams with
// Content-Length frames (stdio, the default; framing.ts), or a WebSocket with one message per
// WebSocket message (websocket.ts). The connection (jsonrpc.ts) sees only this interface, so a
// new transport is one more Carrier and nothing else changes.
import type { Readable, Writable } from 'node:stream';
import type { MessageReader, MessageWriter } from 'vscode-jsonrpc/node.js';
import { FramedReader, FramedWriter, type FrameSink, type WriterHooks } from './framing.js';

export type { FrameSink, WriterHooks };

/** A writer that also sends messages serialised already (answers handled outside vscode-jsonrpc). */
export interface TextWriter extends MessageWriter {
  /** Sends one whole message; resolves once it was handed to the transport. Never rejects. */
  writeText(body: string): Promise<void>;
}

export interface Carrier {
  /** Where the peer's messages arrive: each whole message's text goes to `sink.body`. */
  reader(sink: FrameSink): MessageReader;
  /** Where messages leave; `hooks` hears each one, the first failure and an overflow. */
  writer(hooks: WriterHooks, maxQueuedBytes?: number): TextWriter;
  /** Resolves once what the writer handed on left this process (or could not). */
  flush(): Promise<void>;
  /** Calls `callback` once, when the peer's side ended (its input closed). */
  onEnd(callback: () => void): void;
  /** Ends this side (the peer sees its input end). */
  end(): void;
}

/** Content-Length frames over a pair of streams: a child's stdio, or linked streams in a test. */
export function streamCarrier(input: Readable, output: Writable): Carrier {
  return {
    reader: (sink) => new FramedReader(input, sink),
    writer: (hooks, maxQueuedBytes) => new FramedWriter(output, hooks, maxQueuedBytes),
    flush: () => new Promise<void>((resolve) => (output.writableEnded || output.destroyed ? resolve() : output.write('', () => resolve()))),
    // A pipe's 'close' may never come while its other end is half open: the end of input is enough.
    onEnd: (callback) => void input.once('end', callback),
    end: () => void output.end(),
  };
}
