// The WebSocket carrier (the `ws` package): one JSON-RPC message per WebSocket text message, in
// both directions. Written through the one BatchWriter: a batch's messages go out in one corked
// write of the socket's stream; once more than HIGH_WATER_BYTES were sent and not yet taken by the
// socket, messages wait in the writer; a peer that leaves more than maxQueuedBytes unread, or
// stalls for maxStallMs (WriterBounds), is given up (the socket is terminated).
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { BatchWriter, type Carrier, type FrameSink, type Outlet } from './carrier.js';

/** Sent and not yet written to the socket: above this, messages wait for the socket to take them. */
const HIGH_WATER_BYTES = 1024 * 1024;

export function socketCarrier(socket: WebSocket, stream?: Duplex): Carrier {
  return {
    read: (sink) => readSocket(socket, sink),
    writer: (hooks, bounds) => new BatchWriter(socketOutlet(socket, stream), hooks, bounds),
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

/** One WebSocket message is one JSON-RPC message. */
function readSocket(socket: WebSocket, sink: FrameSink): { stop(): void } {
  const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    if (isBinary) return sink.malformed('a binary WebSocket message (codecell speaks JSON text messages)');
    sink.body(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(toBuffers(data)).toString('utf8'));
  };
  socket.on('message', onMessage);
  return { stop: () => void socket.off('message', onMessage) };
}

function toBuffers(data: WebSocket.RawData): Buffer[] {
  if (Array.isArray(data)) return data;
  return [Buffer.from(data as ArrayBuffer)];
}

/**
 * A WebSocket as a BatchWriter's outlet: a message per body, the batch in one write of the
 * socket's stream (corked while it is sent) when the stream is known.
 */
function socketOutlet(socket: WebSocket, stream: Duplex | undefined): Outlet {
  /** Bytes handed to the socket whose send has not completed. */
  let sending = 0;
  let blocked = false;
  const drained: (() => void)[] = [];
  const failed: ((error: Error) => void)[] = [];
  const sent = (length: number): void => {
    sending -= length;
    if (blocked && sending < HIGH_WATER_BYTES) {
      blocked = false;
      for (const callback of drained) callback();
    }
  };
  return {
    write: (bodies, done) => {
      if (socket.readyState !== WebSocket.OPEN) throw new Error('the WebSocket is closed');
      const corked = stream !== undefined && !stream.destroyed && bodies.length > 1;
      if (corked) stream.cork();
      let left = bodies.length;
      for (const body of bodies) {
        sending += body.length;
        socket.send(body, (error) => {
          sent(body.length);
          if (error == null) {
            if (--left === 0) done?.();
          } else {
            for (const callback of failed) callback(error); // a send that failed is the socket's failure
            done?.(error);
          }
        });
      }
      if (corked) stream.uncork();
      blocked = sending >= HIGH_WATER_BYTES;
      return !blocked;
    },
    get pendingBytes() {
      return sending;
    },
    onDrain: (callback) => void drained.push(callback),
    onError: (callback) => {
      failed.push(callback);
      socket.on('error', callback);
    },
    destroy: () => socket.terminate(),
  };
}
