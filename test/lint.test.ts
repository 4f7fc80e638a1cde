// ESLint's rules hold over the repository (eslint.config.js: no floating or misused promise, no
// switch that misses a case, no unused name), run by `npm test` in a file of its own: the
// type-aware lint takes half a minute on a loaded 2-core machine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runRepoScript } from './helpers.js';

// Its own bound: beside a busy test file on 2 cores the lint has taken over a minute.
test(
  'ESLint finds no error: no floating or misused promise, no switch that misses a case, no unused name',
  { timeout: 240_000 },
  () => {
    const { status, output } = runRepoScript('node_modules/eslint/bin/eslint.js', ['.']);
    assert.equal(status, 0, output);
  },
);
