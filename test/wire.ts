// Raw JSON-RPC framing for tests that speak to the host byte by byte.
import type { Readable, Writable } from 'node:stream';

export type WireMessage = {
  jsonrpc: '2.0';
  id?: number | string | null;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
};

export function frame(body: string | Buffer): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return Buffer.concat([Buffer.from(`Content-Length: ${bytes.length}\r\n\r\n`, 'ascii'), bytes]);
}

/** Collects every framed message a stream carries, in order. */
export class WireLog {
  readonly messages: WireMessage[] = [];
  #buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];

  constructor(stream: Readable) {
    stream.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      for (;;) {
        const end = this.#buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/Content-Length: (\d+)/i.exec(this.#buffer.subarray(0, end).toString('ascii'))?.[1]);
        if (this.#buffer.length < end + 4 + length) return;
        this.messages.push(
          JSON.parse(this.#buffer.subarray(end + 4, end + 4 + length).toString('utf8')) as WireMessage,
        );
        this.#buffer = this.#buffer.subarray(end + 4 + length);
        for (const wake of this.#waiters.splice(0)) wake();
      }
    });
  }

  /** Resolves with the first message matching, waiting for it if needed. */
  async next(match: (message: WireMessage) => boolean, timeoutMs = 10_000): Promise<WireMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error('expected message did not arrive');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

export class RawClient {
  #id = 0;
  readonly log: WireLog;
  readonly #output: Writable;

  constructor(input: Readable, output: Writable) {
    this.log = new WireLog(input);
    this.#output = output;
  }

  write(bytes: string | Buffer): void {
    this.#output.write(bytes);
  }

  send(method: string, params?: unknown): number {
    const id = ++this.#id;
    this.#output.write(frame(JSON.stringify({ jsonrpc: '2.0', id, method, params })));
    return id;
  }

  async call(method: string, params?: unknown): Promise<WireMessage> {
    const id = this.send(method, params);
    return this.log.next(
      (message) => message.id === id && (message.result !== undefined || message.error !== undefined),
    );
  }

  reply(id: number | string, result: unknown): void {
    this.#output.write(frame(JSON.stringify({ jsonrpc: '2.0', id, result })));
  }
}

/** A new session with one cell that waits forever, its initial event read. */
export async function pendingCell(raw: RawClient): Promise<{ sessionId: string; cellId: string }> {
  const created = await raw.call('session/create', {});
  const { sessionId } = created.result as { sessionId: string };
  const executed = await raw.call('cell/execute', {
    sessionId,
    request: { source: 'await new Promise(() => {})' },
    observe: { kind: 'yieldAfter', ms: 0 },
  });
  const { cellId } = executed.result as { cellId: string };
  await raw.log.next((m) => m.method === 'cell/initialEvent' && (m.params as { cellId?: string }).cellId === cellId);
  return { sessionId, cellId };
}

/** A codecell-host server on in-memory streams, spoken to byte by byte; closed after the test. */
export async function rawHost(t: { after(fn: () => Promise<void>): void }): Promise<RawClient> {
  const { PassThrough } = await import('node:stream');
  const { createHost } = await import('../host/index.js');
  const toHost = new PassThrough();
  const fromHost = new PassThrough();
  const host = createHost({ input: toHost, output: fromHost, logger: { warn: () => {}, error: () => {} } });
  t.after(async () => {
    toHost.end();
    await host.closed;
  });
  return new RawClient(fromHost, toHost);
}
