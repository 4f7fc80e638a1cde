// Turns a cell's source into the JavaScript module the isolate compiles. TypeScript is
// type-stripped by sucrase, which keeps every line where it was, so stack traces still point at
// the user's lines.
import { transform } from 'sucrase';
import { parse } from 'sucrase/dist/parser/index.js';
import { TokenType } from 'sucrase/dist/parser/tokenizer/types.js';
import type { CellLanguage } from './types.js';

/**
 * What `import(` becomes in a cell: a sandbox function of the same length (so columns stay put)
 * that rejects with "Unsupported import in cell: <specifier>" (isolated-vm only says
 * "Not supported").
 */
export const DYNAMIC_IMPORT_STAND_IN = '$cc_im';

/** Replaces each dynamic `import(` call (not strings or comments that contain one). */
function replaceDynamicImports(code: string): string {
  if (!code.includes('import')) return code;
  let tokens;
  try {
    tokens = parse(code, false, false, false).tokens;
  } catch {
    return code; // a syntax error: the compiler will report it
  }
  let result = code;
  tokens.forEach((token, index) => {
    if (token.type === TokenType._import && tokens[index + 1]?.type === TokenType.parenL) {
      result = result.slice(0, token.start) + DYNAMIC_IMPORT_STAND_IN + result.slice(token.end);
    }
  });
  return result;
}

export type PreparedSource =
  | { code: string; filename: string; error?: undefined }
  | { error: string; code?: undefined; filename?: undefined };

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

/** Parses as plain JavaScript with sucrase's parser; false when it needs TypeScript. */
function isPlainJavaScript(source: string): boolean {
  try {
    transform(source, { transforms: [], disableESTransforms: true });
    return true;
  } catch {
    return false;
  }
}

export function prepareSource(source: string, language: CellLanguage): PreparedSource {
  const typescript = language === 'typescript' || (language === 'auto' && !isPlainJavaScript(source));
  if (!typescript) return { code: replaceDynamicImports(source), filename: 'cell.js' };
  const filename = 'cell.ts';
  try {
    return { code: replaceDynamicImports(stripTypes(source)), filename };
  } catch (error) {
    return { error: syntaxError(error, filename) };
  }
}
