// Turns a cell's source into the JavaScript module the isolate compiles, and makes the
// configuration its sandbox is given. TypeScript is type-stripped by sucrase, which keeps every
// line where it was, so stack traces still point at the user's lines.
import { transform } from 'sucrase';
import { parse } from 'sucrase/dist/parser/index.js';
import { TokenType } from 'sucrase/dist/parser/tokenizer/types.js';
import type { CellTool } from '../cell/tool-calls.js';
import type { CellLimits } from '../limits.js';
import type { CellLanguage } from '../types.js';

/**
 * What `import(` becomes in a cell: a sandbox function of the same length (so columns stay put)
 * that rejects with "Unsupported import in cell: <specifier>" (isolated-vm only says
 * "Not supported").
 */
export const DYNAMIC_IMPORT_STAND_IN = '$cc_im';

type Token = { type: number; start: number; end: number };

/** The source's tokens, or undefined if it does not parse (the compiler will report it). */
function tokenize(code: string): Token[] | undefined {
  try {
    return parse(code, false, false, false).tokens;
  } catch {
    return undefined;
  }
}

/** `code` with [start, end) blanked (newlines kept, so lines and columns stay put), `lead` first. */
function blank(code: string, start: number, end: number, lead = ''): string {
  const gap = code.slice(start, end).replace(/[^\n]/g, ' ');
  return code.slice(0, start) + lead + gap.slice(lead.length) + code.slice(end);
}

/**
 * Rewrites what a cell's module wrapper cannot hold, keeping every line and column: each dynamic
 * `import(` becomes a call of the sandbox's stand-in, and `export` keywords go (a cell's exports
 * are ignored; its body runs inside a try block). Re-exports (`export … from`) stay, so the
 * compiler reports them as unsupported imports.
 */
function rewriteModuleSyntax(code: string, parsed?: Token[]): string {
  if (!code.includes('import') && !code.includes('export')) return code;
  const tokens = parsed ?? tokenize(code);
  if (tokens === undefined) return code;
  const text = (token: Token | undefined): string => (token === undefined ? '' : code.slice(token.start, token.end));
  // Edits run back to front, so the offsets of earlier tokens stay valid.
  for (let index = tokens.length - 1; index >= 0; index--) {
    const token = tokens[index] as Token;
    const next = tokens[index + 1];
    if (token.type === TokenType._import && next?.type === TokenType.parenL) {
      code = code.slice(0, token.start) + DYNAMIC_IMPORT_STAND_IN + code.slice(token.end);
    } else if (token.type === TokenType._export) {
      code = removeExport(code, tokens, index, text);
    }
  }
  return code;
}

function removeExport(
  code: string,
  tokens: Token[],
  index: number,
  text: (token: Token | undefined) => string,
): string {
  const exported = tokens[index] as Token;
  const next = tokens[index + 1];
  if (next === undefined || next.type === TokenType.star) return code;
  if (next.type === TokenType.braceL) {
    const close = tokens.findIndex((token, at) => at > index && token.type === TokenType.braceR);
    if (close < 0 || text(tokens[close + 1]) === 'from') return code;
    return blank(code, exported.start, (tokens[close] as Token).end);
  }
  if (next.type !== TokenType._default) return blank(code, exported.start, exported.end);
  // `export default` + a named function or class stays a declaration, and an expression stays an
  // expression statement; an anonymous function or class, or an object literal, would not parse
  // as a statement: `void` makes it an expression.
  let at = index + 2;
  if (text(tokens[at]) === 'async') at++;
  const type = tokens[at]?.type;
  const declares = type === TokenType._function || type === TokenType._class;
  if (type === TokenType._function && tokens[at + 1]?.type === TokenType.star) at++;
  const anonymous =
    (declares && tokens[at + 1]?.type !== TokenType.name) || tokens[index + 2]?.type === TokenType.braceL;
  return blank(code, exported.start, next.end, anonymous ? 'void' : '');
}

export type PreparedSource =
  { code: string; filename: string; error?: undefined } | { error: string; code?: undefined; filename?: undefined };

function syntaxError(error: unknown, filename: string): string {
  const location = (error as { loc?: { line?: unknown; column?: unknown } }).loc;
  const message = error instanceof Error ? error.message : String(error);
  if (location !== undefined && typeof location.line === 'number' && typeof location.column === 'number') {
    return `SyntaxError: ${message.replace(/\s*\(\d+:\d+\)$/, '')} [${filename}:${location.line}:${location.column}]`;
  }
  return `SyntaxError: ${message}`;
}

function stripTypes(source: string): string {
  return transform(source, { transforms: ['typescript'], disableESTransforms: true, keepUnusedImports: true }).code;
}

/**
 * The source's tokens when it parses as plain JavaScript with sucrase's parser (its parser only:
 * a transform with no transforms would also write the code out again, 3–8× the time for a
 * small cell); undefined when it needs TypeScript.
 */
const plainJavaScript = tokenize;

/**
 * The cell's code to compile. `auto` (the default everywhere) strips types only from a source
 * that is not plain JavaScript and is TypeScript; a source that is neither compiles as JavaScript,
 * so V8 reports its syntax error as it does for `javascript`.
 */
export function prepareSource(source: string, language: CellLanguage, name?: string): PreparedSource {
  const javascript = (tokens?: Token[]): PreparedSource => ({
    code: rewriteModuleSyntax(source, tokens),
    filename: name ?? 'cell.js',
  });
  if (language === 'javascript') return javascript();
  const tokens = language === 'auto' ? plainJavaScript(source) : undefined;
  if (tokens !== undefined) return javascript(tokens);
  const filename = name ?? 'cell.ts';
  try {
    return { code: rewriteModuleSyntax(stripTypes(source)), filename };
  } catch (error) {
    return language === 'auto' ? javascript() : { error: syntaxError(error, filename) };
  }
}

/**
 * The configuration a cell's sandbox is given as data: its tools (id, kind, description), the
 * stored values it starts with (undefined: the session has none) and their size as the host counts
 * them, and the limits the sandbox checks itself.
 */
export function sandboxConfig(
  tools: readonly CellTool[],
  limits: CellLimits,
  stored: { stored: Record<string, string>; storedBytes: number } | undefined,
): string {
  return JSON.stringify({
    tools: tools.map(({ id, definition, kind }) => ({ id, kind, description: definition.description ?? '' })),
    stored: stored?.stored ?? null,
    storedBytes: stored?.storedBytes ?? 0,
    limits: { maxNotificationBytes: limits.maxNotificationBytes, maxStoredBytes: limits.maxStoredBytes },
  });
}
