// The code a cell's isolate runs around the cell: the sandbox's files (one closure body: the
// helpers of format, image, stored and dynamic-code first, then prelude.js) and the one-line wrapper of the
// cell's module.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

const SANDBOX_FILES = ['format.js', 'image.js', 'stored.js', 'dynamic-code.js', 'prelude.js'];
let sandboxSource: string | undefined;

/** The body of the closure the isolate runs first; `$0` is the host function it may call. */
export function preludeSource(): string {
  sandboxSource ??= SANDBOX_FILES.map((file) => readFileSync(new URL(`../../sandbox/${file}`, import.meta.url), 'utf8')).join('\n');
  return `${sandboxSource}\nreturn installCodecellPrelude($0);`;
}

/**
 * The cell runs inside a try block of its module, so its outcome (including a rejection after a
 * top-level await) reaches the sandbox's `done`/`fail` from inside the isolate, in order with its
 * output. The prefix is one line, hidden from stack traces by `lineOffset: -1`. The hook is taken
 * off the global object before the cell runs, under a name made for this cell alone.
 */
export function wrapCell(source: string): string {
  const hook = `__cc${randomUUID().replaceAll('-', '')}`;
  return `const ${hook} = globalThis.__codecell$; delete globalThis.__codecell$; try {\n${source}\n} catch (error) { ${hook}.fail(error); } ${hook}.done();`;
}
