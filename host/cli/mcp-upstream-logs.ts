// What the upstream MCP servers of `codecell mcp` say besides their answers: their stderr, each
// line prefixed with the upstream's name, and their log messages — sent on to the stdio client
// while it keeps up, else to stderr — never a queue that grows with a chatty upstream.
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Writable } from 'node:stream';
import type { connectMcpServer } from '../tools/mcp-tools.js';

export /** Writes a stream's lines to `out`, each prefixed. */
function forwardLines(
  stream: NodeJS.ReadableStream | null | undefined,
  prefix: string,
  out: Writable,
  tail: string[],
): void {
  let partial = '';
  stream?.on('data', (chunk: Buffer | string) => {
    const lines = (partial + String(chunk)).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      out.write(`${prefix} ${line}\n`);
      tail.push(line);
      if (tail.length > 5) tail.shift();
    }
  });
}

/** An upstream log message's data as one line of at most 4 KiB. */
function logText(data: unknown): string {
  const text = typeof data === 'string' ? data : (JSON.stringify(data) ?? String(data));
  return text.length > 4096 ? `${text.slice(0, 4096)} …` : text;
}

/** Upstream log text waiting for a slow reader (stderr) at most; past it lines are dropped. */
const MAX_LOG_BACKLOG_BYTES = 1024 * 1024;

type LogParams = Parameters<Server['sendLoggingMessage']>[0];

/**
 * Upstream log messages to the stdio client's MCP server, sent while its output keeps up (nothing
 * waits to be written past the stream's mark). A client that reads slowly loses log messages
 * instead: never a growing queue, nor a `drain` listener per message; once it reads again it
 * hears how many were dropped.
 */
export class StdioLogs {
  /** The servers that hear the logs (over stdio, its one session's). */
  readonly servers = new Set<Server>();
  readonly #output: Writable;
  /** Dropped messages by upstream, while the client is behind. */
  #dropped: Map<string, number> | undefined;

  constructor(output: Writable) {
    this.#output = output;
  }

  forward(label: string, params: LogParams): void {
    if (!this.#output.writableNeedDrain) return this.#send(params);
    if (this.#dropped === undefined) {
      const dropped = (this.#dropped = new Map());
      this.#output.once('drain', () => {
        this.#dropped = undefined;
        for (const [upstream, count] of dropped) {
          const data = `${count} log message(s) of ${upstream} dropped: the client read slower than they came`;
          this.#send({ level: 'warning', logger: 'codecell', data });
        }
      });
    }
    this.#dropped.set(label, (this.#dropped.get(label) ?? 0) + 1);
  }

  #send(params: LogParams): void {
    for (const server of this.servers) server.sendLoggingMessage(params).catch(() => {});
  }
}

/** Where upstream log messages go: the stdio client (while it keeps up), or stderr (undefined). */
export type UpstreamLogs = StdioLogs | undefined;

/** An upstream's log messages, named `<upstream>/<logger>`, go to `logs` (or to stderr without it). */
export function forwardLogMessages(
  client: Awaited<ReturnType<typeof connectMcpServer>>,
  label: string,
  logs: UpstreamLogs,
  stderr: Writable,
): void {
  client.setNotificationHandler(LoggingMessageNotificationSchema, ({ params }) => {
    const logger = params.logger === undefined ? label : `${label}/${params.logger}`;
    if (logs !== undefined) logs.forward(label, { ...params, logger });
    else if (stderr.writableLength < MAX_LOG_BACKLOG_BYTES)
      stderr.write(`[${logger}] ${params.level}: ${logText(params.data)}\n`);
  });
}
