// The repository's own checks, run by `npm test`: ESLint's rules hold (eslint.config.js: no
// floating or misused promise, exhaustive switches), the code is formatted (scripts/check-style.js),
// and the published API matches the reports under api/ (scripts/api-report.js), with every export
// documented.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function runScript(script: string, args: string[] = []): { status: number | null; output: string } {
  const { status, stdout, stderr } = spawnSync(process.execPath, [script, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status, output: `${stdout}${stderr}` };
}

test('ESLint finds no error: no floating or misused promise, no switch that misses a case, no unused name', () => {
  const { status, output } = runScript('node_modules/eslint/bin/eslint.js', ['.']);
  assert.equal(status, 0, output);
});

test('every source file is formatted (Prettier, 120 columns)', () => {
  const { status, output } = runScript('scripts/check-style.js');
  assert.equal(status, 0, output);
});

test('the public API is the one in api/*.api.md, every export documented, no internal type leaking', () => {
  const { status, output } = runScript('scripts/api-report.js');
  assert.equal(status, 0, `${output}\n(after a deliberate change: npm run api:update, and review the diff of api/)`);
});
