#!/usr/bin/env node
// The code-shape rules STYLE.md sets, checked on every TypeScript and JavaScript source file the
// repository tracks: formatted by Prettier (.prettierrc.json, 120 columns), no line over 120
// columns outside tests and text, no file over 300 lines, no function over 60 lines. Prints
// each breach and exits 1; `npm test` runs it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as prettier from 'prettier';
import ts from 'typescript';

export const MAX_FILE_LINES = 300;
export const MAX_FUNCTION_LINES = 60;
export const MAX_COLUMNS = 120;

/**
 * Lines over MAX_COLUMNS outside test/ and examples/ (the README prints those as written), unless
 * the line is text inside a template literal of several lines (a usage text, a cell's source).
 */
export function longLines(file, text) {
  if (file.startsWith('test/') || file.startsWith('examples/')) return [];
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const inText = new Set();
  const visit = (node) => {
    if (ts.isTemplateExpression(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.end).line;
      for (let line = first + 1; line <= last; line++) inText.add(line);
      if (last > first) inText.add(first);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return text
    .split('\n')
    .flatMap((line, i) =>
      line.length > MAX_COLUMNS && !inText.has(i) ? [`${file}:${i + 1} is ${line.length} columns`] : [],
    );
}

/** The tracked files the rules apply to (generated and vendored files are not tracked). */
export function sourceFiles(root = process.cwd()) {
  const listed = execFileSync('git', ['ls-files', '-z', '--', '*.ts', '*.js', '*.mjs'], {
    cwd: root,
    encoding: 'utf8',
  });
  return listed.split('\0').filter((file) => file !== '' && !file.startsWith('bench/results/'));
}

/**
 * Each function-like node longer than MAX_FUNCTION_LINES, as `file:line name (n lines)`. A
 * `describe` block's callback only groups tests (each test's own function is measured).
 */
export function longFunctions(file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined && !groupsTests(node)) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.end).line;
      const lines = last - first + 1;
      if (lines > MAX_FUNCTION_LINES) found.push(`${file}:${first + 1} ${nameOf(node)} (${lines} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function groupsTests(node) {
  const parent = node.parent;
  return parent !== undefined && ts.isCallExpression(parent) && parent.expression.getText() === 'describe';
}

function nameOf(node) {
  if (node.name !== undefined) return node.name.getText();
  const parent = node.parent;
  if (parent !== undefined && ts.isVariableDeclaration(parent)) return parent.name.getText();
  if (parent !== undefined && ts.isCallExpression(parent))
    return `callback of ${parent.expression.getText().slice(0, 40)}`;
  return '(anonymous)';
}

/** Every breach of the three rules in the tracked files under `root`. */
export async function styleBreaches(root = process.cwd()) {
  const breaches = [];
  for (const file of sourceFiles(root)) {
    const path = `${root}/${file}`;
    const text = readFileSync(path, 'utf8');
    const options = { ...(await prettier.resolveConfig(path)), filepath: path };
    const { ignored } = await prettier.getFileInfo(path, { ignorePath: `${root}/.prettierignore` });
    if (!ignored && !(await prettier.check(text, options)))
      breaches.push(`${file}: not formatted (npx prettier --write ${file})`);
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines > MAX_FILE_LINES) breaches.push(`${file}: ${lines} lines (at most ${MAX_FILE_LINES})`);
    breaches.push(...longFunctions(file, text), ...longLines(file, text));
  }
  return breaches;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const breaches = await styleBreaches();
  for (const breach of breaches) console.log(breach);
  process.exitCode = breaches.length === 0 ? 0 : 1;
}
