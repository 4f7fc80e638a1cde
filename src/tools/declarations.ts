// TypeScript declarations of what a cell can use, rendered from the tools' JSON Schemas, and the
// description of the exec/wait tool pair an agent shows its model (SPEC §11).
import { invalidRequest } from '../errors.js';
import { DEFAULT_YIELD_MS } from '../defaults.js';
import { toolIdentifier } from './tool-names.js';
import { SANDBOX_GLOBALS_DECLARATION } from '../isolate/sandbox-protocol.js';
import type { JsonValue, ToolDefinition } from '../types.js';
import { docComment, isSchemaObject, SchemaRenderer, type Schema } from './schema-types.js';

function checkToolList(tools: unknown): ToolDefinition[] {
  if (!Array.isArray(tools)) throw invalidRequest('tools must be an array of tool definitions');
  for (const [index, tool] of tools.entries()) {
    if (!isSchemaObject(tool) || typeof tool.name !== 'string' || tool.name === '') {
      throw invalidRequest(`tools[${index}] must be an object with a non-empty name`);
    }
  }
  return tools as ToolDefinition[];
}

function toolSignature(tool: ToolDefinition): string {
  const input =
    tool.kind === 'freeform'
      ? 'input: string'
      : tool.inputSchema === undefined
        ? 'input?: { [key: string]: unknown }'
        : (() => {
            const type = new SchemaRenderer(tool.inputSchema as Schema).render(tool.inputSchema, '  ');
            const hasRequired =
              isSchemaObject(tool.inputSchema) &&
              Array.isArray(tool.inputSchema.required) &&
              tool.inputSchema.required.length > 0;
            return `input${hasRequired ? '' : '?'}: ${type}`;
          })();
  const output =
    tool.outputSchema === undefined
      ? 'unknown'
      : new SchemaRenderer(tool.outputSchema as Schema).render(tool.outputSchema, '  ');
  return `${docComment(tool.description, '  ')}  ${toolIdentifier(tool)}(${input}): Promise<${output}>;\n`;
}

/**
 * A TypeScript declaration of everything a cell can use: `tools` typed from each tool's JSON
 * Schemas (descriptions as doc comments), and the sandbox globals.
 */
export function renderToolDeclarations(tools: readonly ToolDefinition[]): string {
  const checked = checkToolList(tools);
  // No empty `tools` block for a session without tools: a line saying so instead.
  if (checked.length === 0) return `// No tools are available: \`tools\` is empty.\n${SANDBOX_GLOBALS_DECLARATION}`;
  const members = checked.map(toolSignature).join('');
  return `declare const tools: {\n${members}};\n${SANDBOX_GLOBALS_DECLARATION}`;
}

/** The names, defaults and schema mode of the exec/wait descriptions. */
export interface ExecToolOptions {
  /** Name of the run tool. Default 'exec'. */
  execName?: string;
  /** Name of the wait/terminate tool. Default 'wait'. */
  waitName?: string;
  /** The yield time used when the model gives none. Default 10 000 ms. */
  defaultYieldMs?: number;
  /** The language when the model gives none, as the schema describes it. Default 'auto' (as everywhere). */
  defaultLanguage?: 'javascript' | 'auto';
  /**
   * OpenAI strict-mode schemas: every field required, `null` where the model gives none.
   * Default false: only `source` / `cell_id` required.
   */
  strict?: boolean;
}

/** A tool as a model sees it: name, description and input schema. */
export interface ModelToolDescription {
  name: string;
  description: string;
  inputSchema: { [key: string]: JsonValue };
}

/** exec's description: how a cell works, then the declarations of what it can use. */
function execDescription(waitName: string, defaultYieldMs: number, declarations: string): string {
  return [
    'Runs a JavaScript (or TypeScript) cell in a sandbox and returns its output. Call tools with',
    '`await tools.<name>(input)`; run independent calls in parallel with Promise.all. Show results',
    'with text(...) / image(...) / console.log(...); only what you output is returned to you (the',
    'cell is a module, not a function: a top-level `return` is an error, use text(value)).',
    `The call returns when the cell completes, or after yield_time_ms (default ${defaultYieldMs}) with the`,
    `output so far and a cell_id: the cell keeps running, and ${waitName} returns its next output.`,
    'yield_control() returns early; notify(...) reports progress without waiting. A cell ends when',
    'its code finishes: pending timers do not keep it alive, and tool calls that were never awaited',
    'are cancelled. store(key, value) keeps JSON values for later cells (load(key) reads them).',
    'Top-level await works; import, require, the file system and the network are not available.',
    '',
    'What the cell can use:',
    '```ts',
    declarations.trimEnd(),
    '```',
  ].join('\n');
}

const cellIdField = (execName: string): JsonValue => ({
  type: 'string',
  description: `The cell_id that ${execName} returned.`,
});

/** The exec/wait pair an agent exposes to its model, with the declarations embedded. */
export function describeExecTool(
  tools: readonly ToolDefinition[],
  options: ExecToolOptions = {},
): { exec: ModelToolDescription; wait: ModelToolDescription } {
  const {
    execName = 'exec',
    waitName = 'wait',
    defaultYieldMs = DEFAULT_YIELD_MS,
    defaultLanguage = 'auto',
    strict = false,
  } = options;
  const declarations = renderToolDeclarations(tools);
  /** A field the model may leave out: nullable (and required) in strict mode. */
  const optional = (type: string, schema: { [key: string]: JsonValue }): { [key: string]: JsonValue } =>
    strict ? { ...schema, type: [type, 'null'] } : { type, ...schema };
  const schemaOf = (properties: { [key: string]: JsonValue }, needed: string): { [key: string]: JsonValue } => ({
    type: 'object',
    properties,
    required: strict ? Object.keys(properties) : [needed],
    additionalProperties: false,
  });
  const yieldTime = optional('integer', {
    minimum: 0,
    description: `Return after this many ms even if the cell is still running (default ${defaultYieldMs}).`,
  });
  const terminateField = optional('boolean', { description: 'Stop the cell instead of waiting.' });
  const languages: JsonValue[] = ['javascript', 'typescript', 'auto', ...(strict ? [null] : [])];
  const exec: ModelToolDescription = {
    name: execName,
    description: execDescription(waitName, defaultYieldMs, declarations),
    inputSchema: schemaOf(
      {
        source: { type: 'string', description: 'The code of the cell.' },
        yield_time_ms: yieldTime,
        language: optional('string', {
          enum: languages,
          description:
            defaultLanguage === 'auto'
              ? 'Default auto: TypeScript types are stripped when the cell has any.'
              : 'Default javascript; typescript strips types first.',
        }),
      },
      'source',
    ),
  };
  const wait: ModelToolDescription = {
    name: waitName,
    description: [
      `Waits for more output of a cell that ${execName} left running, and returns it: when the cell`,
      `completes, calls yield_control(), or after yield_time_ms (default ${defaultYieldMs}). With`,
      'terminate: true it stops the cell at once and returns its last output.',
    ].join('\n'),
    inputSchema: schemaOf(
      { cell_id: cellIdField(execName), yield_time_ms: yieldTime, terminate: terminateField },
      'cell_id',
    ),
  };
  return { exec, wait };
}
