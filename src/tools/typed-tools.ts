// Tools an embedder writes for a session with their input's schema and an `execute` typed from it
// (issue 55): a schema of a validation library that speaks Standard Schema and Standard JSON
// Schema (zod 4, ArkType, …), or a JSON Schema literal (`as const`). `toolSource` turns them into
// a session's tool definitions and the delegate that runs them — as the adapters do for the
// frameworks' own tools.
import { CodeCellError } from '../errors.js';
import { toolIdentifier } from './tool-names.js';
import type { JsonValue, NestedToolCall, SessionRuntimeDelegate, ToolDefinition } from '../types.js';

/** What a schema library's Standard Schema validation answers. */
export type StandardValidation<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly { readonly message: string; readonly path?: readonly unknown[] }[] };

/**
 * A schema of a validation library that implements Standard Schema (validation, inferred types)
 * and Standard JSON Schema (its JSON Schema): zod 4's schemas, for one.
 */
export interface StandardToolSchema<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
    validate(value: unknown): StandardValidation<Output> | Promise<StandardValidation<Output>>;
    readonly jsonSchema: { input(options: { target: string }): Record<string, unknown> };
  };
}

/** A JSON Schema written as a literal (`as const` keeps the types that type the input). */
export type JsonSchemaLiteral = { readonly [key: string]: unknown };

/** The type a JSON Schema literal describes, as far as types, properties, items, enum and const go. */
export type FromJsonSchema<S> = S extends { readonly const: infer C }
  ? C
  : S extends { readonly enum: readonly (infer E)[] }
    ? E
    : S extends { readonly type: 'string' }
      ? string
      : S extends { readonly type: 'number' | 'integer' }
        ? number
        : S extends { readonly type: 'boolean' }
          ? boolean
          : S extends { readonly type: 'null' }
            ? null
            : S extends { readonly type: 'array'; readonly items: infer I }
              ? FromJsonSchema<I>[]
              : S extends { readonly type: 'object'; readonly properties: infer P }
                ? FromJsonSchemaObject<P, S extends { readonly required: readonly (infer R)[] } ? R : never>
                : JsonValue;

/** The object a JSON Schema literal's `properties` and `required` describe. */
export type FromJsonSchemaObject<P, Required> = {
  -readonly [K in keyof P as K extends Required ? K : never]: FromJsonSchema<P[K]>;
} & {
  -readonly [K in keyof P as K extends Required ? never : K]?: FromJsonSchema<P[K]>;
} extends infer O
  ? { [K in keyof O]: O[K] }
  : never;

/** The input `execute` gets for a schema: the Standard Schema's output, or the literal's type. */
export type InputOf<S> = S extends StandardToolSchema<unknown, infer Output> ? Output : FromJsonSchema<S>;

/** A tool with a typed input: its definition, and what runs a call of it. */
export interface TypedToolOptions<S extends StandardToolSchema | JsonSchemaLiteral> {
  name: string;
  namespace?: string;
  description?: string;
  inputSchema: S;
  /** Runs a call with its input, as the schema's output type (a Standard Schema's is validated here). */
  execute(
    input: InputOf<S>,
    context: { signal: AbortSignal; call: NestedToolCall },
  ): JsonValue | undefined | void | Promise<JsonValue | undefined | void>;
}

/** What defineTool returns: give it to toolSource. */
export interface TypedTool {
  readonly definition: ToolDefinition;
  /** Checks (a Standard Schema's) and runs one call. */
  invoke(call: NestedToolCall, signal: AbortSignal): Promise<JsonValue | undefined>;
}

/**
 * A tool whose `execute` is typed from its `inputSchema`: a Standard Schema (zod 4, …: its JSON
 * Schema goes to the session, which checks every call's input against it, and the library's own
 * validation gives `execute` its output — defaults and transforms applied) or a JSON Schema
 * literal (`as const`; the session checks the input). Input that does not fit fails the cell's
 * call with a TypeError naming where.
 */
export function defineTool<const S extends StandardToolSchema | JsonSchemaLiteral>(
  tool: TypedToolOptions<S>,
): TypedTool {
  if (tool === null || typeof tool !== 'object') throw new TypeError('defineTool: give { name, inputSchema, execute }');
  const { name, namespace, description, inputSchema, execute } = tool;
  if (typeof name !== 'string' || name === '') throw new TypeError('defineTool: name must be a non-empty string');
  if (typeof execute !== 'function') throw new TypeError(`defineTool: ${name} needs an execute function`);
  if (inputSchema === null || typeof inputSchema !== 'object')
    throw new TypeError(`defineTool: ${name} needs an inputSchema (a Standard Schema such as zod's, or JSON Schema)`);
  const standard = isStandard(inputSchema) ? inputSchema['~standard'] : undefined;
  const jsonSchema = standard === undefined ? inputSchema : jsonSchemaOf(name, standard);
  const definition: ToolDefinition = {
    name,
    ...(namespace === undefined ? {} : { namespace }),
    ...(description === undefined ? {} : { description }),
    inputSchema: jsonSchema as JsonValue,
  };
  const run = execute as (input: unknown, context: { signal: AbortSignal; call: NestedToolCall }) => unknown;
  return {
    definition,
    invoke: async (call, signal) => {
      let input: unknown = call.input;
      if (standard !== undefined) {
        const checked = await standard.validate(input);
        if (checked.issues !== undefined) throw new TypeError(`tools.${name}: ${issuesText(checked.issues)}`);
        input = checked.value;
      }
      return (await run(input, { signal, call })) as JsonValue | undefined;
    },
  };
}

/** A session's tools and the delegate that runs them, from defineTool's tools. */
export interface TypedToolSource {
  readonly tools: ToolDefinition[];
  readonly delegate: Pick<SessionRuntimeDelegate, 'invokeTool'>;
}

/**
 * defineTool's tools as tools of a session: `new SessionBuilder().withTools(source.tools,
 * source.delegate)`, or a SessionRuntime's `tools` with the delegate's `invokeTool`.
 */
export function toolSource(tools: readonly TypedTool[]): TypedToolSource {
  if (!Array.isArray(tools)) throw new TypeError('toolSource: give an array of defineTool(...) tools');
  const byName = new Map<string, TypedTool>();
  for (const tool of tools as unknown[]) {
    if (!isTypedTool(tool)) throw new TypeError('toolSource: every tool must come from defineTool(...)');
    const key = toolIdentifier(tool.definition);
    if (byName.has(key)) throw new TypeError(`toolSource: two tools are named ${key}`);
    byName.set(key, tool);
  }
  return {
    tools: [...byName.values()].map((tool) => tool.definition),
    delegate: {
      invokeTool: (call, signal) => {
        const tool = byName.get(toolIdentifier(call.tool));
        if (tool === undefined)
          return Promise.reject(new CodeCellError('ERR_INVALID_REQUEST', `no tool ${toolIdentifier(call.tool)}`));
        return tool.invoke(call, signal);
      },
    },
  };
}

function isStandard(schema: object): schema is StandardToolSchema {
  const standard = (schema as Partial<StandardToolSchema>)['~standard'];
  return standard !== null && typeof standard === 'object' && typeof standard.validate === 'function';
}

function isTypedTool(value: unknown): value is TypedTool {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as TypedTool).invoke === 'function' &&
    typeof (value as TypedTool).definition?.name === 'string'
  );
}

/** The JSON Schema of a Standard Schema's input (Standard JSON Schema), or an error that says why not. */
function jsonSchemaOf(name: string, standard: StandardToolSchema['~standard']): Record<string, unknown> {
  if (typeof standard.jsonSchema?.input !== 'function')
    throw new TypeError(
      `defineTool: ${name}'s ${standard.vendor} schema gives no JSON Schema (Standard JSON Schema); ` +
        'use a library version that does (zod ≥ 4.2), or give JSON Schema',
    );
  return standard.jsonSchema.input({ target: 'draft-2020-12' });
}

function issuesText(issues: readonly { message: string; path?: readonly unknown[] }[]): string {
  return issues
    .slice(0, 5)
    .map(({ message, path = [] }) => {
      const keys = path.map((part) => (part !== null && typeof part === 'object' && 'key' in part ? part.key : part));
      return `${['input', ...keys.map(String)].join('.')} ${message}`;
    })
    .join('; ');
}
