// What exec and wait answer an MCP client, whichever revision it speaks: a code-mode result as
// MCP content (its text, images and status line), with the calls that took effect, the output
// drained while it waited for a person, and wait's approve/decline ids for a client that cannot ask.
import { codeModeStatus, type CodeModeResult, type JsonValue } from '../../src/index.js';
import type { CallsMade } from './mcp-calls-made.js';

type ContentBlock = { type: 'text'; text: string } | { type: 'image'; data: string; mimeType: string };

/** MCP content for a code-mode result: its text, its images, and the status line. */
export function contentOf(
  result: CodeModeResult,
  waitName: string,
): { content: ContentBlock[]; structuredContent: CodeModeResult; isError: boolean } {
  const content: ContentBlock[] = result.output === '' ? [] : [{ type: 'text', text: result.output }];
  for (const image of result.images) {
    const match = /^data:([^;,]+)(;base64)?,(.*)$/s.exec(image.image_url);
    content.push(
      match === null
        ? { type: 'text', text: '[image]' }
        : {
            type: 'image',
            mimeType: match[1] ?? 'image/png',
            data:
              match[2] === undefined
                ? Buffer.from(decodeURIComponent(match[3] ?? '')).toString('base64')
                : (match[3] ?? ''),
          },
    );
  }
  content.push({ type: 'text', text: codeModeStatus(result, waitName) });
  // The same result as data (exec and wait list its outputSchema): a client reads cell_id and
  // status from it instead of from the status line.
  return { content, structuredContent: result, isError: result.status === 'failed' };
}

/** A cell's later result with the output an earlier one drained (and no one was shown) before its own. */
export function afterOutput(earlier: Pick<CodeModeResult, 'output' | 'images'>, later: CodeModeResult): CodeModeResult {
  const output = [earlier.output, later.output].filter((text) => text !== '').join('\n');
  return { ...later, output, images: [...earlier.images, ...later.images] };
}

/** The result's schema with `calls_made` (optional: not in the strict schema other hosts share). */
export function withCallsMadeField(schema: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
  const properties = (schema.properties ?? {}) as { [key: string]: JsonValue };
  const callsMade = {
    type: 'array',
    items: { type: 'string' },
    description: 'For a failed or terminated cell: its upstream calls that took effect, in order.',
  };
  return { ...schema, properties: { ...properties, calls_made: callsMade } };
}

/**
 * A cell's end says which of its upstream calls took effect (`calls_made`): what stands of a cell
 * that failed or was terminated. A cell that completed forgets them.
 */
export function withCallsMade(result: CodeModeResult, made: CallsMade): CodeModeResult {
  if (result.status === 'completed') made.take(result.cell_id);
  if (result.status !== 'failed' && result.status !== 'terminated') return result;
  return { ...result, calls_made: made.take(result.cell_id) };
}

/** A cell that called a tool it does not have, while upstreams still start: it is told they do. */
export function withStarting(result: CodeModeResult, starting: readonly string[]): CodeModeResult {
  const missing = /tools\.[\w$]+ is not a function[^\n]*/;
  if (starting.length === 0 || result.error === null || !missing.test(result.error)) return result;
  const still = `; upstream ${starting.join(', ')} still starting: its tools join when it answers, try again then`;
  return { ...result, error: result.error.replace(missing, (line) => `${line}${still}`) };
}

const CALL_IDS = { type: 'array', items: { type: 'string' } } as const;

/** wait as a client without elicitation lists it: with the call ids its user approves or declines. */
export function withApprovals<T extends { description: string; inputSchema: { [key: string]: JsonValue } }>(
  wait: T,
): T {
  const { properties = {} } = wait.inputSchema as { properties?: { [key: string]: JsonValue } };
  const approve = { ...CALL_IDS, description: 'ids of paused calls (pending_tool_calls) the user approved' };
  const decline = { ...CALL_IDS, description: 'ids of paused calls the user declined' };
  return {
    ...wait,
    description:
      wait.description +
      '\nA cell paused at a call that needs approval goes on once you name that call in approve or ' +
      'decline; ask the user first.',
    inputSchema: { ...wait.inputSchema, properties: { ...properties, approve, decline } },
  };
}

/** wait's approve or decline: call ids (anything else names none). */
export const callIds = (value: unknown): string[] =>
  typeof value === 'string'
    ? [value]
    : Array.isArray(value)
      ? value.filter((each): each is string => typeof each === 'string')
      : [];

/**
 * wait's input as a loose MCP caller sends it: a cell id given as a number (`cell_id=1` from a
 * command line that types its values) is the same id as text; anything else is left for wait to judge.
 */
export function waitInputOf(input: Record<string, unknown>): Record<string, unknown> {
  const { cell_id: cellId } = input;
  return Number.isSafeInteger(cellId) && (cellId as number) >= 0 ? { ...input, cell_id: String(cellId) } : input;
}
