// The repository's own checks, run by `npm test`: the code is formatted and within the size rules
// (scripts/check-style.js), and the published API matches the reports under api/
// (scripts/api-report.js), with every export documented.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function runScript(script: string): { status: number | null; output: string } {
  const { status, stdout, stderr } = spawnSync(process.execPath, [script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status, output: `${stdout}${stderr}` };
}

test('every source file is formatted (Prettier, 120 columns), at most 300 lines, with no function over 60 lines', () => {
  const { status, output } = runScript('scripts/check-style.js');
  assert.equal(status, 0, output);
});

test('the public API is the one in api/*.api.md, every export documented, no internal type leaking', () => {
  const { status, output } = runScript('scripts/api-report.js');
  assert.equal(status, 0, `${output}\n(after a deliberate change: npm run api:update, and review the diff of api/)`);
});
