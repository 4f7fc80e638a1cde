// What exec and wait return to the model: the result object, its strict-mode JSON schema, and its
// rendering as text for a model that takes text only.
import type { CellEvent, JsonValue } from '../types.js';
import { toolIdentifier } from './tool-names.js';

/** What exec and wait return: every field present and typed, as OpenAI's strict mode wants. */
export interface CodeModeResult {
  cell_id: string;
  /**
   * completed (its code finished), failed (it threw), terminated, still running (yielded /
   * pending), or paused by a tool until the agent answers it (interrupted: `error` says at what).
   */
  status: 'completed' | 'failed' | 'terminated' | 'yielded' | 'pending' | 'interrupted';
  /** The cell's text output since the last result, one item per line. */
  output: string;
  images: { image_url: string; detail: string | null }[];
  /** The cell's error (with its line number), or why it was terminated; null otherwise. */
  error: string | null;
  /** The tool calls a pending cell waits on. */
  pending_tool_calls: string[];
  /**
   * What a completed cell returned at its top level (`return value`), as JSON text (`'{"n":42}'`);
   * null when it returned nothing, or what is not JSON, and for every other status.
   */
  result: string | null;
  /**
   * Where the host tracks them (`codecell mcp`): for a failed or terminated cell, the tool calls it
   * made that took effect (`tools.<id> (<call id>)`, in order) — what stands of it.
   */
  calls_made?: string[];
}

export const RESULT_SCHEMA: { [key: string]: JsonValue } = {
  type: 'object',
  properties: {
    cell_id: { type: 'string' },
    status: { type: 'string', enum: ['completed', 'failed', 'terminated', 'yielded', 'pending', 'interrupted'] },
    output: { type: 'string' },
    images: {
      type: 'array',
      items: {
        type: 'object',
        properties: { image_url: { type: 'string' }, detail: { type: ['string', 'null'] } },
        required: ['image_url', 'detail'],
        additionalProperties: false,
      },
    },
    error: { type: ['string', 'null'] },
    pending_tool_calls: { type: 'array', items: { type: 'string' } },
    result: {
      type: ['string', 'null'],
      description: 'What a completed cell returned at its top level (return value), as JSON text; else null.',
    },
  },
  required: ['cell_id', 'status', 'output', 'images', 'error', 'pending_tool_calls', 'result'],
  additionalProperties: false,
};

/** A cell event as the result the model gets. */
export function codeModeResult(event: CellEvent): CodeModeResult {
  const output = event.items.flatMap((item) => (item.type === 'text' ? [item.text] : [])).join('\n');
  const images = event.items.flatMap((item) =>
    item.type === 'image' ? [{ image_url: item.imageUrl, detail: item.detail ?? null }] : [],
  );
  const base = { cell_id: event.cellId, output, images, error: null, pending_tool_calls: [], result: null };
  switch (event.kind) {
    case 'completed': {
      const result = event.result === undefined ? null : JSON.stringify(event.result);
      return event.error === undefined
        ? { ...base, status: 'completed', result }
        : { ...base, status: 'failed', error: event.error };
    }
    case 'terminated':
      return {
        ...base,
        status: 'terminated',
        error: `terminated (${event.reason ?? 'requested'}${event.detail === undefined ? '' : `: ${event.detail}`})`,
      };
    case 'pending':
      return { ...base, status: 'pending', pending_tool_calls: event.pendingToolCallIds };
    case 'interrupted': {
      const at = `tools.${toolIdentifier(event.tool)} (${event.callId})`;
      // A call in doubt after a recovery (SPEC §16): whether it was made is not known.
      const why =
        event.reason === 'inDoubt'
          ? `paused at ${at}: in doubt — it may have been made before its agent process was lost`
          : `paused at ${at}: ${JSON.stringify(event.payload)}`;
      return { ...base, status: 'interrupted', error: why, pending_tool_calls: [event.callId] };
    }
    case 'yielded':
      return { ...base, status: 'yielded' };
    default:
      return event satisfies never;
  }
}

/** What stands of a cell that ended early, where the host tracks its calls. */
function madeLine({ calls_made: made }: CodeModeResult): string {
  return made === undefined || made.length === 0 ? '' : `\nCalls that took effect: ${made.join(', ')}`;
}

/** The line that says how the cell stands (and what to call next). */
export function codeModeStatus(result: CodeModeResult, waitName = 'wait'): string {
  switch (result.status) {
    case 'completed':
      return `cell ${result.cell_id} completed`;
    case 'failed':
      return `cell ${result.cell_id} failed:\n${result.error ?? ''}${madeLine(result)}`;
    case 'terminated':
      return `cell ${result.cell_id} was ${result.error ?? 'terminated'}${madeLine(result)}`;
    case 'pending':
      return (
        `cell ${result.cell_id} is waiting on ` +
        `${result.pending_tool_calls.join(', ') || 'timers'}; call ${waitName} with cell_id "${result.cell_id}"`
      );
    case 'interrupted':
      return (
        `cell ${result.cell_id} is ${result.error ?? 'paused'}; ` +
        `call ${waitName} with cell_id "${result.cell_id}" to ask for approval (it goes on once given)`
      );
    default:
      return `cell ${result.cell_id} is still running; call ${waitName} with cell_id "${result.cell_id}"`;
  }
}

/** The result as one text for a model that takes text only (images are counted). */
export function renderCodeModeResult(result: CodeModeResult, waitName = 'wait'): string {
  const lines = result.output === '' ? [] : [result.output];
  if (result.images.length > 0) lines.push(`[${result.images.length} image(s)]`);
  lines.push(codeModeStatus(result, waitName));
  return lines.join('\n');
}
