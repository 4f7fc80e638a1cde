// Turns a cell's source into the JavaScript module the isolate compiles. TypeScript is
// type-stripped by sucrase, which keeps every line where it was, so stack traces still point at
// the user's lines.
import { transform } from 'sucrase';
import type { CellLanguage } from './types.js';

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
  if (!typescript) return { code: source, filename: 'cell.js' };
  const filename = 'cell.ts';
  try {
    return { code: stripTypes(source), filename };
  } catch (error) {
    return { error: syntaxError(error, filename) };
  }
}
