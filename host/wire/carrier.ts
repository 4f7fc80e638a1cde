// What carries JSON-RPC messages between a client and a host: a pair of byte streams with
// Content-Length frames (stdio, the default: streamCarrier in framing.ts), or a WebSocket with
// one message per WebSocket message (socketCarrier in websocket.ts). The engine (rpc.ts) sees only
// this interface, so a new transport is one more Carrier and nothing else changes. Both carriers
// write through one BatchWriter (batches a turn at a time, backpressure, the overflow bound); each
// gives it an Outlet that knows how its transport takes a batch.

/** What a reader hands on: a message's text, or why bytes were skipped. */
export interface FrameSink {
  body(text: string): void;
  malformed(reason: string): void;
}

/** What a writer reports: the first failure, and an overflow. */
export interface WriterHooks {
  /** The output failed, or the peer was given up (WriterBounds): later writes are dropped. */
  lost(error: Error): void;
  /** The peer was given up (after `lost`; WriterBounds): whoever owns the connection closes it. */
  overflow?(error: Error): void;
}

/** When a writer gives its peer up. */
export interface WriterBounds {
  /** The peer left more than this many bytes unread. Default 64 MiB. */
  maxQueuedBytes?: number;
  /**
   * Messages waited this long while the peer read none of what it was sent (none by default: a
   * peer may then stall as long as it stays under maxQueuedBytes).
   */
  maxStallMs?: number;
}

/** Where the engine's messages leave. */
export interface MessageWriter {
  /**
   * Sends one whole message (its JSON text); never throws, never waits. `now`: it leaves at once
   * with what waits before it, not at the end of its turn (see BatchWriter).
   */
  push(body: string, now?: boolean): void;
  /** Resolves once every message sent so far was handed to the transport. Never rejects. */
  written(): Promise<void>;
}

export interface Carrier {
  /** Starts reading the peer: each whole message's text goes to `sink.body`; `stop` ends reading. */
  read(sink: FrameSink): { stop(): void };
  /** Where messages leave; `hooks` hears the first failure and the peer given up. */
  writer(hooks: WriterHooks, bounds?: WriterBounds): MessageWriter;
  /** Resolves once what the writer handed on left this process (or could not). */
  flush(): Promise<void>;
  /** Calls `callback` once, when the peer's side ended (its input closed). */
  onEnd(callback: () => void): void;
  /** Ends this side (the peer sees its input end). */
  end(): void;
}

/** How one transport takes a batch of messages (a stream: frames in one write; a WebSocket: one message each). */
export interface Outlet {
  /**
   * Writes the batch; false when the transport needs draining before more; throws when the
   * transport is closed. `done`, when given, once written or failed; without it a failure is
   * reported only to `onError` (a stream then asks nothing of the next tick per write).
   */
  write(bodies: string[], done?: (error?: Error | null) => void): boolean;
  /** Bytes handed to the transport and not yet taken by the peer. */
  readonly pendingBytes: number;
  /** Calls `callback` whenever the transport drained (it takes more again). */
  onDrain(callback: () => void): void;
  onError(callback: (error: Error) => void): void;
  /** Gives the peer up (it left too much unread). */
  destroy(): void;
}

/** How much a peer that does not read may leave waiting before the writer gives it up. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** A batch this large is written at once instead of at the end of the turn. */
const FLUSH_NOW_BYTES = 64 * 1024;

/**
 * A writer's messages per turn of the event loop. What is written in one turn leaves together at
 * its end (the calls a cell makes at once reach this process as one callback each, every one
 * followed by its own microtasks), but the first message of a turn after a turn of one message at
 * most leaves at once: a lone call or answer (sequential calls) does not wait for the turn's end,
 * and the peer starts on it while this side finishes the turn.
 */
class Turns {
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

/**
 * Writes messages in batches, a turn of the event loop at a time (Turns): one batch of 16 calls in
 * one write, not 16, but a lone message at once, and a batch past 64 KiB at once. Backpressure is
 * honoured: once the outlet needs draining, what follows waits here until it drains. A peer that
 * leaves more than `maxQueuedBytes` unread, or (with `maxStallMs`) takes nothing of what waits for
 * that long, is given up: the outlet is destroyed. Writes never throw; the first failure is
 * reported to `lost` (the peer went away: the connection's close fails what was pending).
 */
export class BatchWriter implements MessageWriter {
  readonly #outlet: Outlet;
  readonly #hooks: WriterHooks;
  readonly #maxQueuedBytes: number;
  readonly #maxStallMs: number | undefined;
  /** While blocked, with maxStallMs: checks that the peer took something since the last check. */
  #stallWatch: NodeJS.Timeout | undefined;
  #batch: string[] = [];
  #batchBytes = 0;
  #written: PromiseWithResolvers<void> | undefined;
  #failed = false;
  /** The outlet needs draining: batches wait for it. */
  #blocked = false;
  readonly #turns = new Turns(() => {
    if (this.#batch.length > 0 && !this.#blocked) this.#flush();
  });

  constructor(outlet: Outlet, hooks: WriterHooks, bounds: WriterBounds = {}) {
    this.#outlet = outlet;
    this.#hooks = hooks;
    this.#maxQueuedBytes = bounds.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.#maxStallMs = bounds.maxStallMs;
    // A peer that went away shows as an error of its transport (EPIPE): reported, never thrown.
    outlet.onError((error) => this.#fail(error));
    outlet.onDrain(() => {
      this.#blocked = false;
      clearInterval(this.#stallWatch);
      this.#stallWatch = undefined;
      if (this.#batch.length > 0) this.#flush();
    });
  }

  push(body: string, now = false): void {
    if (this.#failed) return;
    const first = this.#batch.length === 0;
    this.#batch.push(body);
    this.#batchBytes += body.length;
    if (this.#blocked && this.queuedBytes > this.#maxQueuedBytes)
      return this.#giveUp(`left ${this.queuedBytes} bytes unread, over the ${this.#maxQueuedBytes}-byte bound`);
    const alone = this.#turns.message();
    // A large batch leaves at once, so the outlet's backpressure (and the bound) apply to the rest.
    if (!this.#blocked && ((first && alone) || now || this.#batchBytes >= FLUSH_NOW_BYTES)) this.#flush();
  }

  written(): Promise<void> {
    if (this.#batch.length === 0 || this.#failed) return Promise.resolve();
    this.#written ??= Promise.withResolvers<void>();
    return this.#written.promise;
  }

  /** Bytes sent and not yet taken by the peer (waiting here or in the transport). */
  get queuedBytes(): number {
    return this.#batchBytes + this.#outlet.pendingBytes;
  }

  #flush(): void {
    const batch = this.#batch;
    const written = this.#written;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#written = undefined;
    // Only a batch someone waits for asks to hear when it was written; a failure reaches #fail
    // through the outlet's onError either way.
    const done =
      written === undefined
        ? undefined
        : (error?: Error | null): void => {
            if (error != null) this.#fail(error);
            written.resolve();
          };
    try {
      if (!this.#outlet.write(batch, done)) {
        this.#blocked = true;
        this.#watchStall();
      }
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
      written?.resolve();
    }
  }

  /**
   * Blocked, with maxStallMs: the outlet must have fewer bytes pending (while blocked nothing is
   * added to it) within every maxStallMs, or the peer is given up. Checked four times a period.
   */
  #watchStall(): void {
    const stallMs = this.#maxStallMs;
    if (stallMs === undefined || this.#stallWatch !== undefined) return;
    let pending = this.#outlet.pendingBytes;
    let since = performance.now();
    this.#stallWatch = setInterval(
      () => {
        const now = this.#outlet.pendingBytes;
        if (now < pending) {
          pending = now;
          since = performance.now();
        } else if (performance.now() - since >= stallMs) {
          this.#giveUp(`read nothing for ${stallMs} ms while ${this.queuedBytes} bytes waited`);
        }
      },
      Math.max(1, stallMs / 4),
    ).unref();
  }

  /** The peer left too much unread or stalled: it is given up, and what waited is dropped. */
  #giveUp(why: string): void {
    const error = new Error(`the peer ${why}; the connection is given up`);
    this.#fail(error);
    this.#outlet.destroy();
    this.#hooks.overflow?.(error);
  }

  /** The output failed: what waits here is dropped (its written() resolves), later pushes too. */
  #fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = true;
    clearInterval(this.#stallWatch);
    this.#batch = [];
    this.#batchBytes = 0;
    this.#written?.resolve();
    this.#written = undefined;
    this.#hooks.lost(error);
  }
}
