// What a codecell-host process knows of its own load, over all its connections: sessions, cells
// admitted and not closed, whether it accepts new sessions (not while it drains), and, for its
// metrics, each cell's outcome, each tool call's latency and how long terminate and shutdown took.
// Clients place sessions by this load (host/ping, session/create); /metrics reads it.
import { CodeCellError, type SessionCellEvent } from '../../src/index.js';
import type { HostLoad } from '../wire/protocol.js';

/** Hears what the host does (its Prometheus metrics are one such listener: metrics.ts). */
export interface HostObserver {
  /** A cell closed: `outcome` is its terminal event's kind, `reason` a termination's reason. */
  cellClosed?(outcome: string, reason: string | undefined): void;
  /** A nested tool call answered (or failed) after `ms`. */
  toolCall?(ms: number, ok: boolean): void;
  terminated?(ms: number): void;
  shutDown?(ms: number): void;
  /** A session was created here from another's state: moved from a lost or draining host, or a snapshot. */
  sessionRestored?(from: 'move' | 'snapshot'): void;
  /** A cell lost with its host runs again here, from its client's journal. */
  cellReplayed?(): void;
}

export class HostStats {
  sessions = 0;
  cellsRunning = 0;
  /** False once the host drains: new sessions are refused with "go elsewhere" (ERR_SHUTTING_DOWN). */
  accepting = true;
  readonly #observers: HostObserver[] = [];

  observe(observer: HostObserver): void {
    this.#observers.push(observer);
  }

  get load(): HostLoad {
    return { sessions: this.sessions, cellsRunning: this.cellsRunning, accepting: this.accepting };
  }

  /** The runtime observer of one session: counts its cells and times its tool calls. */
  sessionObserver(): (event: SessionCellEvent) => void {
    /** Tool calls in flight: `<cellId> <callId>` → when they started. */
    const calls = new Map<string, number>();
    return (event) => {
      switch (event.type) {
        case 'admitted':
          this.cellsRunning++;
          return;
        case 'toolCall':
          if (this.#observers.length > 0) calls.set(`${event.cellId} ${event.callId}`, performance.now());
          return;
        case 'toolResult': {
          const key = `${event.cellId} ${event.callId}`;
          const started = calls.get(key);
          if (started === undefined) return;
          calls.delete(key);
          for (const observer of this.#observers) observer.toolCall?.(performance.now() - started, event.ok);
          return;
        }
        case 'closed': {
          this.cellsRunning--;
          const closed = event.event;
          const reason = closed.kind === 'terminated' ? closed.reason : undefined;
          for (const observer of this.#observers) observer.cellClosed?.(closed.kind, reason);
          // A closed cell's calls never answer.
          for (const key of calls.keys()) if (key.startsWith(`${event.cellId} `)) calls.delete(key);
          return;
        }
        default:
          return;
      }
    };
  }

  restored(from: 'move' | 'snapshot'): void {
    for (const observer of this.#observers) observer.sessionRestored?.(from);
  }

  replayed(): void {
    for (const observer of this.#observers) observer.cellReplayed?.();
  }

  /** Times `operation` for the observers' `terminated` or `shutDown`. */
  async timed<T>(kind: 'terminated' | 'shutDown', operation: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await operation();
    } finally {
      const ms = performance.now() - started;
      for (const observer of this.#observers) observer[kind]?.(ms);
    }
  }
}

/** The cells one connection's sessions have live, bounded by the host's --max-cells. */
export class ConnectionCells {
  readonly #max: number;
  #live = 0;
  #admitting = 0;

  constructor(max: number) {
    this.#max = max;
  }

  observe(event: SessionCellEvent): void {
    if (event.type === 'admitted') this.#live++;
    else if (event.type === 'closed') this.#live--;
  }

  /** Throws ERR_LIMIT_EXCEEDED unless `count` more cells fit the connection's bound. */
  assertRoom(count = 1): void {
    if (this.#live + this.#admitting + count <= this.#max) return;
    throw new CodeCellError(
      'ERR_LIMIT_EXCEEDED',
      `this connection already has ${this.#live + this.#admitting} live cells of ${this.#max} (the host's ` +
        `--max-cells); ${count} more do not fit`,
    );
  }

  /** Runs an admission (an execute, a replay) unless the connection is at its bound (ERR_LIMIT_EXCEEDED). */
  async admit<T>(execute: () => Promise<T>): Promise<T> {
    this.assertRoom();
    this.#admitting++;
    try {
      return await execute();
    } finally {
      this.#admitting--;
    }
  }
}
