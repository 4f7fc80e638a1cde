// The repository's own checks, run by `npm test`: the code is formatted (scripts/check-style.js),
// and the published API matches the reports under api/ (scripts/api-report.js), with every export
// documented. ESLint's rules are lint.test.ts's (a file of their own: each file has its own time
// bound, and the type-aware lint is the slowest of the three).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runRepoScript as runScript } from './helpers.js';

test('every source file is formatted (Prettier, 120 columns)', () => {
  const { status, output } = runScript('scripts/check-style.js');
  assert.equal(status, 0, output);
});

test('the public API is the one in api/*.api.md, every export documented, no internal type leaking', () => {
  const { status, output } = runScript('scripts/api-report.js');
  assert.equal(status, 0, `${output}\n(after a deliberate change: npm run api:update, and review the diff of api/)`);
});
