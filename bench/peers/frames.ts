// JSON frames behind a 4-byte little-endian length: the Codex host's framing, and the bare pipe
// floor's (the least a Node↔process round trip can cost).
import type { Writable } from 'node:stream';

export function writeFrame(output: Writable, body: string): void {
  const bytes = Buffer.byteLength(body);
  const frame = Buffer.allocUnsafe(4 + bytes);
  frame.writeUInt32LE(bytes, 0);
  frame.write(body, 4);
  output.write(frame);
}

/** Splits a byte stream into frame bodies. */
export class LengthPrefixedFrames {
  #buffer: Buffer = Buffer.alloc(0);
  readonly #onBody: (body: string) => void;

  constructor(onBody: (body: string) => void) {
    this.#onBody = onBody;
  }

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 4) {
      const length = this.#buffer.readUInt32LE(0);
      if (this.#buffer.length < 4 + length) return;
      const body = this.#buffer.toString('utf8', 4, 4 + length);
      this.#buffer = this.#buffer.subarray(4 + length);
      this.#onBody(body);
    }
  }
}
