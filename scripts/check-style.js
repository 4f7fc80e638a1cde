#!/usr/bin/env node
// What ESLint cannot say (eslint.config.js says the rest): every TypeScript and JavaScript source
// file the repository tracks is formatted by Prettier (.prettierrc.json, 120 columns), and the
// JavaScript files ESLint does not read (bin/, scripts/) have no line over 120 columns outside
// text. Prints each breach and exits 1; `npm test` runs it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as prettier from 'prettier';
import ts from 'typescript';

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

/** Every breach of the two rules in the tracked files under `root`. */
export async function styleBreaches(root = process.cwd()) {
  const breaches = [];
  for (const file of sourceFiles(root)) {
    const path = `${root}/${file}`;
    const text = readFileSync(path, 'utf8');
    const options = { ...(await prettier.resolveConfig(path)), filepath: path };
    const { ignored } = await prettier.getFileInfo(path, { ignorePath: `${root}/.prettierignore` });
    if (!ignored && !(await prettier.check(text, options)))
      breaches.push(`${file}: not formatted (npx prettier --write ${file})`);
    if (!file.endsWith('.ts')) breaches.push(...longLines(file, text));
  }
  return breaches;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const breaches = await styleBreaches();
  for (const breach of breaches) console.log(breach);
  process.exitCode = breaches.length === 0 ? 0 : 1;
}
