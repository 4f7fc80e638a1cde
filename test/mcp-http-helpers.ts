// What the tests of `codecell mcp --http` share: the server started over an upstream, an official
// SDK client connected to it, and raw HTTP requests for what a client library would not send.
import { spawn } from 'node:child_process';
import { request, type IncomingMessage } from 'node:http';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export const CLI = fileURLToPath(new URL('../../bin/codecell.js', import.meta.url));

/** A cell calling two tools of server-everything at once; its text matches TWO_TOOLS_TEXT. */
export const TWO_TOOLS_CELL =
  'const [s, e] = await Promise.all([tools.everything__get_sum({ a: 2, b: 3 }), tools.everything__echo({ message: "hi" })]); text(JSON.stringify(s) + " " + e)';
export const TWO_TOOLS_TEXT = /5.* Echo: hi$/;

export type Result = { content: { type: string; text?: string }[]; isError?: boolean };
export const textsOf = (result: Result): string[] =>
  result.content.flatMap((block) => (block.type === 'text' ? [block.text ?? ''] : []));

/** `codecell mcp --http <address>` with one `--upstream` (or none: `extra` names them); its URL once it listens, and its stderr so far. */
export async function startHttp(
  t: TestContext,
  upstream: string | undefined,
  { address = '127.0.0.1:0', extra = [] }: { address?: string; extra?: string[] } = {},
): Promise<{ url: string; stderr: () => string }> {
  const upstreams = upstream === undefined ? [] : ['--upstream', upstream];
  const args = ['--no-node-snapshot', CLI, 'mcp', '--http', address, ...extra, ...upstreams];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      const match = /codecell mcp listening on (\S+)\n/.exec(stderr);
      if (match !== null) resolveUrl(match[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`codecell mcp exited ${code}: ${stderr}`)));
  });
  return { url, stderr: () => stderr };
}

export async function connect(t: TestContext, url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'codecell-http-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  t.after(() => client.close());
  return client;
}

export const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

/** A raw POST to the endpoint; `body` may come later (a slow client); the response at its head. */
export function rawPost(
  url: string,
  headers: Record<string, string>,
  body: string | Promise<string>,
): Promise<IncomingMessage> {
  const target = new URL(url);
  return new Promise((done, fail) => {
    const sent = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
      },
      done,
    );
    sent.on('error', fail);
    void Promise.resolve(body).then((text) => sent.end(text));
  });
}

/** The status of a raw POST's response (its body is read and dropped). */
export async function statusOf(response: Promise<IncomingMessage>): Promise<number> {
  const answered = await response;
  answered.resume();
  return answered.statusCode ?? 0;
}
