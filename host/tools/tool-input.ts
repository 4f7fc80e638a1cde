// Checking a tool call's input against the tool's `inputSchema` (JSON Schema, with ajv) before
// the call reaches the tool's source: a mistake in a cell fails there with a TypeError that
// names the field, instead of an opaque error from an MCP server or an API.
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, Options, ValidateFunction } from 'ajv';
import { toolIdentifier, type JsonValue, type Logger, type ToolDefinition } from '../../src/index.js';

/** ajv is CommonJS: its class is the module itself (one per JSON Schema draft). */
type AjvConstructor = new (options: Options) => Ajv;

const require = createRequire(import.meta.url);
let validators: { draft07: Ajv; draft2020: Ajv } | undefined;

function ajvFor(schema: Record<string, unknown>): Ajv {
  validators ??= (() => {
    const options = { strict: false, allErrors: false, validateFormats: false };
    const Draft07 = require('ajv') as AjvConstructor;
    const Draft2020 = require('ajv/dist/2020') as AjvConstructor;
    return { draft07: new Draft07(options), draft2020: new Draft2020(options) };
  })();
  return typeof schema.$schema === 'string' && schema.$schema.includes('2020-12') ? validators.draft2020 : validators.draft07;
}

/** `/entities/0/name` as `.entities[0].name`. */
function fieldOf(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`))
    .join('');
}

function describe(error: ErrorObject): string {
  const field = `input${fieldOf(error.instancePath)}`;
  const params = error.params as { missingProperty?: string; additionalProperty?: string; allowedValues?: unknown[] };
  if (error.keyword === 'required' && params.missingProperty !== undefined) return `${field}.${params.missingProperty} is required`;
  if (error.keyword === 'additionalProperties' && params.additionalProperty !== undefined) return `${field}.${params.additionalProperty} is not a known field`;
  if (error.keyword === 'enum' && params.allowedValues !== undefined) return `${field} must be one of ${params.allowedValues.map((value) => JSON.stringify(value)).join(', ')}`;
  return `${field} ${error.message ?? 'is invalid'}`;
}

/** Compiled input checks by tool identifier (`name` or `namespace__name`). */
export class ToolInputChecks {
  readonly #checks = new Map<string, ValidateFunction>();

  /** Compiles the tool's schema; a schema ajv cannot compile is skipped with a warning. */
  add(tool: ToolDefinition, logger: Logger): void {
    const schema = tool.inputSchema;
    if (schema === undefined || schema === null || typeof schema !== 'object' || Array.isArray(schema)) return;
    const id = toolIdentifier(tool);
    try {
      this.#checks.set(id, ajvFor(schema).compile(schema));
    } catch (error) {
      logger.warn(`codecell: tools.${id} input is not checked: its inputSchema does not compile (${error instanceof Error ? error.message : String(error)})`);
    }
  }

  /** Throws a TypeError naming the first field that does not fit the tool's schema. */
  check(tool: { name: string; namespace?: string }, input: JsonValue | undefined): void {
    const id = toolIdentifier(tool);
    const check = this.#checks.get(id);
    if (check === undefined || check(input ?? {})) return;
    const [first] = check.errors ?? [];
    throw new TypeError(`tools.${id}: ${first === undefined ? 'input does not fit the tool inputSchema' : describe(first)}`);
  }
}
