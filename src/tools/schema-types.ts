// JSON Schema rendered as a TypeScript type, for the declarations of tools (declarations.ts):
// local `$ref`s resolved, depth and the number of nodes visited bounded, so what an upstream's
// schema holds never makes rendering more than linear in it.
import type { JsonValue } from '../types.js';

export type Schema = { [key: string]: JsonValue } | boolean;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const MAX_DEPTH = 12;
/** Schema nodes rendered per tool at most (see SchemaRenderer). */
const MAX_RENDERED_NODES = 2_000;

export function isSchemaObject(value: unknown): value is { [key: string]: JsonValue } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function docComment(text: string | undefined, indent: string): string {
  if (text === undefined || text.trim() === '') return '';
  const lines = text.trim().replace(/\*\//g, '*\\/').split(/\r?\n/);
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((line) => `${indent} * ${line}`.trimEnd()).join('\n')}\n${indent} */\n`;
}

function propertyName(name: string): string {
  return IDENTIFIER.test(name) ? name : JSON.stringify(name);
}

function literal(value: JsonValue): string {
  return value !== null && typeof value === 'object' ? 'unknown' : JSON.stringify(value);
}

function union(types: string[]): string {
  const unique = [...new Set(types)];
  if (unique.includes('unknown')) return 'unknown';
  return unique.length === 0
    ? 'never'
    : unique.map((type) => (/[|&]/.test(type) && !type.startsWith('{') ? `(${type})` : type)).join(' | ');
}

/** Renders JSON Schema as a TypeScript type; `root` resolves local `$ref`s. */
export class SchemaRenderer {
  readonly #root: Schema;
  readonly #resolving = new Set<string>();
  /**
   * Schema nodes this renderer may still visit: `$ref`s that fan out (each definition naming the
   * next several times) grow as fan-out^depth; past the budget the rest renders as `unknown`, so
   * rendering is linear in the schema whatever an upstream sends.
   */
  #budget = MAX_RENDERED_NODES;

  constructor(root: Schema) {
    this.#root = root;
  }

  render(schema: unknown, indent = '', depth = 0): string {
    if (--this.#budget < 0) return 'unknown';
    if (schema === true || schema === undefined) return 'unknown';
    if (schema === false) return 'never';
    if (!isSchemaObject(schema) || depth > MAX_DEPTH) return 'unknown';
    if (typeof schema.$ref === 'string') return this.#ref(schema.$ref, indent, depth);
    if (Array.isArray(schema.enum)) return union(schema.enum.map(literal));
    if ('const' in schema && schema.const !== undefined) return literal(schema.const);
    for (const key of ['anyOf', 'oneOf'] as const) {
      const options = schema[key];
      if (Array.isArray(options)) return union(options.map((option) => this.render(option, indent, depth + 1)));
    }
    if (Array.isArray(schema.allOf)) {
      const parts = schema.allOf
        .map((part) => this.render(part, indent, depth + 1))
        .filter((part) => part !== 'unknown');
      return parts.length === 0
        ? 'unknown'
        : parts.map((part) => (part.includes('|') ? `(${part})` : part)).join(' & ');
    }
    const type = schema.type;
    if (Array.isArray(type))
      return union(type.map((single) => this.render({ ...schema, type: single }, indent, depth + 1)));
    switch (type) {
      case 'string':
        return 'string';
      case 'number':
      case 'integer':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'null':
        return 'null';
      case 'array':
        return this.#array(schema, indent, depth);
      case 'object':
        return this.#object(schema, indent, depth);
      default:
        return isSchemaObject(schema.properties) ? this.#object(schema, indent, depth) : 'unknown';
    }
  }

  #ref(ref: string, indent: string, depth: number): string {
    const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    if (match === null || this.#resolving.has(ref) || !isSchemaObject(this.#root)) return 'unknown';
    const definitions = this.#root[match[1] as string];
    const target = isSchemaObject(definitions)
      ? definitions[
          decodeURIComponent(match[2] as string)
            .replace(/~1/g, '/')
            .replace(/~0/g, '~')
        ]
      : undefined;
    if (target === undefined) return 'unknown';
    this.#resolving.add(ref);
    try {
      return this.render(target, indent, depth + 1);
    } finally {
      this.#resolving.delete(ref);
    }
  }

  #array(schema: { [key: string]: JsonValue }, indent: string, depth: number): string {
    const { items, prefixItems } = schema;
    const tuple = Array.isArray(prefixItems) ? prefixItems : Array.isArray(items) ? items : undefined;
    if (tuple !== undefined) return `[${tuple.map((item) => this.render(item, indent, depth + 1)).join(', ')}]`;
    const element = this.render(items, indent, depth + 1);
    return /[|&\s]/.test(element) && !element.startsWith('{') ? `(${element})[]` : `${element}[]`;
  }

  #object(schema: { [key: string]: JsonValue }, indent: string, depth: number): string {
    const properties = isSchemaObject(schema.properties) ? schema.properties : {};
    const required = new Set(
      Array.isArray(schema.required) ? schema.required.filter((key): key is string => typeof key === 'string') : [],
    );
    const inner = `${indent}  `;
    const members = Object.entries(properties).map(([name, property]) => {
      const description =
        isSchemaObject(property) && typeof property.description === 'string' ? property.description : undefined;
      const optional = required.has(name) ? '' : '?';
      return (
        `${docComment(description, inner)}${inner}${propertyName(name)}${optional}: ` +
        `${this.render(property, inner, depth + 1)};\n`
      );
    });
    const extra = schema.additionalProperties;
    if (extra !== false && (members.length === 0 || isSchemaObject(extra) || extra === true)) {
      const valueType = isSchemaObject(extra) ? this.render(extra, inner, depth + 1) : 'unknown';
      members.push(
        `${inner}[key: string]: ${valueType === 'unknown' || members.length === 0 ? valueType : 'unknown'};\n`,
      );
    }
    return members.length === 0 ? '{}' : `{\n${members.join('')}${indent}}`;
  }
}
