// Checking a tool call's input against the tool's `inputSchema` (JSON Schema, with ajv) before
// the call reaches the delegate (SPEC §15: every path, unless the tool says validateInput: false):
// a mistake in a cell fails there with a TypeError that names the field, instead of an opaque
// error from an MCP server or an API. Schema patterns run on RE2's linear-time engine (re2js),
// never on the backtracking RegExp: a schema from an upstream server with `^(a+)+$` cannot freeze
// the process (it took 161 s for 35 characters). Each session compiles with ajv instances of its
// own: nothing compiled for one session (or one upstream's schema) is ever used for another's.
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, Options, ValidateFunction } from 'ajv';
import { RE2JS } from 're2js';
import type { JsonValue, Logger, ToolDefinition } from '../types.js';

/** ajv is CommonJS: its class is the module itself (one per JSON Schema draft). */
type AjvConstructor = new (options: Options) => Ajv;

const require = createRequire(import.meta.url);

/** Compiled checks a session keeps, by schema text (the least recently used go first). */
const MAX_CACHED_CHECKS = 256;
/**
 * A pattern check costs about its length × the input's (RE2 in JavaScript: ~2 µs per unit); past
 * this many units the input is refused instead of checked (a 40-character pattern against 200 KB
 * held the event loop 14 s).
 */
export const MAX_PATTERN_WORK = 500_000;

/** An input too long to check against a pattern within MAX_PATTERN_WORK. */
class PatternTooCostly extends Error {}

/**
 * A pattern compiled by RE2 (linear time); throws UnsupportedPattern for syntax it lacks. ajv
 * keys compiled patterns by their `toString()`: it names the pattern, so two patterns never
 * share one (a plain object's "[object Object]" made every pattern the first one compiled).
 */
function linearRegExp(pattern: string): { test(input: string): boolean; toString(): string } {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (error) {
    throw new UnsupportedPattern(pattern, error instanceof Error ? error.message : String(error));
  }
  const test = (input: string): boolean => {
    if (input.length * Math.max(1, pattern.length) > MAX_PATTERN_WORK)
      throw new PatternTooCostly(
        `a string of ${input.length} characters is too long to check against the pattern ` +
          `${JSON.stringify(pattern.slice(0, 60))} (length × pattern length is at most ${MAX_PATTERN_WORK})`,
      );
    return compiled.matcher(input).find();
  };
  return { test, toString: () => `re2:${pattern}` };
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

function newAjv(draft2020: boolean): Ajv {
  // `code` names the engine in ajv's standalone output, which codecell never generates.
  const regExp = Object.assign(linearRegExp, { code: 'codecell:re2js' });
  const options: Options = { strict: false, allErrors: false, validateFormats: false, code: { regExp } };
  const Draft = require(draft2020 ? 'ajv/dist/2020' : 'ajv') as AjvConstructor;
  return new Draft(options);
}

const messageOfError = (error: unknown): string => (error instanceof Error ? error.message : String(error));

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

/** Throws a TypeError naming the first field of `input` that does not fit; the tool's input check. */
export type InputCheck = (input: JsonValue | undefined) => void;

/** One session's compiled input checks: its own ajv instances, made when first needed. */
export class ToolInputChecks {
  readonly #logger: Logger;
  #draft07: Ajv | undefined;
  #draft2020: Ajv | undefined;
  /** Checks by the schema's JSON text (a host is sent a cell's tools anew with every cell). */
  readonly #cache = new Map<string, InputCheck | undefined>();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /**
   * The input check of a tool with an `inputSchema` (none without one, or with validateInput:
   * false). A schema ajv cannot compile is skipped with a warning; one with a pattern RE2 cannot
   * run fails the tool's calls with a clear error.
   */
  checkOf(tool: ToolDefinition, id: string): InputCheck | undefined {
    const schema = tool.inputSchema;
    if (tool.validateInput === false || schema === null || typeof schema !== 'object' || Array.isArray(schema))
      return undefined;
    const key = `${id}\n${JSON.stringify(schema)}`;
    if (this.#cache.has(key)) {
      const check = this.#cache.get(key);
      this.#cache.delete(key);
      this.#cache.set(key, check);
      return check;
    }
    const check = this.#compile(schema, id);
    this.#cache.set(key, check);
    if (this.#cache.size > MAX_CACHED_CHECKS) this.#cache.delete(this.#cache.keys().next().value as string);
    return check;
  }

  /**
   * A check of a value against a schema from elsewhere (an MCP upstream's outputSchema, for the
   * MCP SDK's client): the first problem, or undefined. Patterns run in linear time, as for inputs;
   * a schema that does not compile checks nothing, with a warning naming `what`.
   */
  valueCheckOf(schema: { [key: string]: JsonValue }, what: string): (value: unknown) => string | undefined {
    let validate: ValidateFunction;
    try {
      validate = this.#ajvCompile(schema);
    } catch (error) {
      this.#logger.warn(`codecell: ${what} is not checked: it does not compile (${messageOfError(error)})`);
      return () => undefined;
    }
    return (value) => {
      try {
        if (validate(value)) return undefined;
      } catch (error) {
        if (error instanceof PatternTooCostly) return error.message;
        throw error;
      }
      const [first] = validate.errors ?? [];
      return first === undefined ? 'the value does not fit its schema' : describe(first).replace(/^input/, 'value');
    };
  }

  /** Compiled by this session's own ajv (never kept by ajv: this class's cache bounds what is). */
  #ajvCompile(schema: { [key: string]: JsonValue }): ValidateFunction {
    const draft2020 = typeof schema.$schema === 'string' && schema.$schema.includes('2020-12');
    const ajv = draft2020 ? (this.#draft2020 ??= newAjv(true)) : (this.#draft07 ??= newAjv(false));
    try {
      return ajv.compile(schema);
    } finally {
      ajv.removeSchema(schema);
    }
  }

  #compile(schema: { [key: string]: JsonValue }, id: string): InputCheck | undefined {
    let validate: ValidateFunction;
    try {
      validate = this.#ajvCompile(schema);
    } catch (error) {
      if (error instanceof UnsupportedPattern) {
        const reason = `${error.message}; give the tool validateInput: false to call it unchecked`;
        this.#logger.warn(`codecell: tools.${id} cannot be called: ${error.message}`);
        return () => {
          throw new TypeError(`tools.${id}: ${reason}`);
        };
      }
      this.#logger.warn(
        `codecell: tools.${id} input is not checked: its inputSchema does not compile (${messageOfError(error)})`,
      );
      return undefined;
    }
    return (input) => {
      try {
        if (validate(input ?? {})) return;
      } catch (error) {
        if (error instanceof PatternTooCostly) throw new TypeError(`tools.${id}: ${error.message}`);
        throw error;
      }
      const [first] = validate.errors ?? [];
      throw new TypeError(
        `tools.${id}: ${first === undefined ? 'input does not fit the tool inputSchema' : describe(first)}`,
      );
    };
  }
}
