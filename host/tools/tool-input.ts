// Checking a tool call's input against the tool's `inputSchema` (JSON Schema, with ajv) before
// the call reaches the tool's source: a mistake in a cell fails there with a TypeError that
// names the field, instead of an opaque error from an MCP server or an API. Schema patterns run
// on RE2's linear-time engine (re2js), never on the backtracking RegExp: a schema from an
// upstream server with `^(a+)+$` cannot freeze the process (it took 161 s for 35 characters).
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, Options, ValidateFunction } from 'ajv';
import { RE2JS } from 're2js';
import { toolIdentifier, type JsonValue, type Logger, type ToolDefinition } from '../../src/index.js';

/** ajv is CommonJS: its class is the module itself (one per JSON Schema draft). */
type AjvConstructor = new (options: Options) => Ajv;

const require = createRequire(import.meta.url);
let validators: { draft07: Ajv; draft2020: Ajv } | undefined;

/** A pattern compiled by RE2 (linear time); throws UnsupportedPattern for syntax it lacks. */
function linearRegExp(pattern: string): { test(input: string): boolean } {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (error) {
    throw new UnsupportedPattern(pattern, error instanceof Error ? error.message : String(error));
  }
  return { test: (input) => compiled.matcher(input).find() };
}

class UnsupportedPattern extends Error {
  constructor(
    readonly pattern: string,
    reason: string,
  ) {
    super(
      `its inputSchema pattern ${JSON.stringify(pattern)} is not supported by codecell's ` +
        `linear-time pattern engine (RE2: no backreferences or lookaround; ${reason})`,
    );
  }
}

function ajvFor(schema: Record<string, unknown>): Ajv {
  validators ??= (() => {
    // `code` names the engine in ajv's standalone output, which codecell never generates.
    const regExp = Object.assign(linearRegExp, { code: 'codecell:re2js' });
    const options: Options = { strict: false, allErrors: false, validateFormats: false, code: { regExp } };
    const Draft07 = require('ajv') as AjvConstructor;
    const Draft2020 = require('ajv/dist/2020') as AjvConstructor;
    return { draft07: new Draft07(options), draft2020: new Draft2020(options) };
  })();
  return typeof schema.$schema === 'string' && schema.$schema.includes('2020-12')
    ? validators.draft2020
    : validators.draft07;
}

/** `/entities/0/name` as `.entities[0].name`. */
function fieldOf(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((part) =>
      /^\d+$/.test(part) ? `[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`,
    )
    .join('');
}

function describe(error: ErrorObject): string {
  const field = `input${fieldOf(error.instancePath)}`;
  const params = error.params as { missingProperty?: string; additionalProperty?: string; allowedValues?: unknown[] };
  if (error.keyword === 'required' && params.missingProperty !== undefined)
    return `${field}.${params.missingProperty} is required`;
  if (error.keyword === 'additionalProperties' && params.additionalProperty !== undefined)
    return `${field}.${params.additionalProperty} is not a known field`;
  if (error.keyword === 'enum' && params.allowedValues !== undefined)
    return `${field} must be one of ${params.allowedValues.map((value) => JSON.stringify(value)).join(', ')}`;
  return `${field} ${error.message ?? 'is invalid'}`;
}

/** Compiled input checks by tool identifier (`name` or `namespace__name`). */
export class ToolInputChecks {
  readonly #checks = new Map<string, ValidateFunction>();
  /** Tools whose schema has a pattern RE2 cannot run: their calls fail with this reason. */
  readonly #unsupported = new Map<string, string>();

  /**
   * Compiles the tool's schema. A schema ajv cannot compile is skipped with a warning; one with a
   * pattern RE2 cannot run fails the tool's calls with a clear error (validateInput: false skips it).
   */
  add(tool: ToolDefinition, logger: Logger): void {
    const schema = tool.inputSchema;
    if (schema === undefined || schema === null || typeof schema !== 'object' || Array.isArray(schema)) return;
    const id = toolIdentifier(tool);
    try {
      this.#checks.set(id, ajvFor(schema).compile(schema));
    } catch (error) {
      if (error instanceof UnsupportedPattern) {
        this.#unsupported.set(id, `${error.message}; give the tool validateInput: false to call it unchecked`);
        logger.warn(`codecell: tools.${id} cannot be called: ${error.message}`);
        return;
      }
      logger.warn(
        `codecell: tools.${id} input is not checked: its inputSchema does not compile ` +
          `(${error instanceof Error ? error.message : String(error)})`,
      );
    }
  }

  /** Throws a TypeError naming the first field that does not fit the tool's schema. */
  check(tool: { name: string; namespace?: string }, input: JsonValue | undefined): void {
    const id = toolIdentifier(tool);
    const unsupported = this.#unsupported.get(id);
    if (unsupported !== undefined) throw new TypeError(`tools.${id}: ${unsupported}`);
    const check = this.#checks.get(id);
    if (check === undefined || check(input ?? {})) return;
    const [first] = check.errors ?? [];
    throw new TypeError(
      `tools.${id}: ${first === undefined ? 'input does not fit the tool inputSchema' : describe(first)}`,
    );
  }
}
