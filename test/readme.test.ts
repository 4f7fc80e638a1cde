// Every JavaScript block the README prints runs as printed (issue 55): the examples/ files it
// shows are run by their own tests (adapters, session-builder, readme-out-of-process); every other
// block is written to a file at the repository's root (where `codecell` resolves to this package)
// and run with Node, and must exit 0 and print what its comments say.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';

const ROOT = new URL('../..', import.meta.url);
const README = readFileSync(new URL('README.md', ROOT), 'utf8');
const EXAMPLES = readdirSync(new URL('examples/', ROOT))
  .filter((name) => name.endsWith('.mjs'))
  .map((name) => readFileSync(new URL(`examples/${name}`, ROOT), 'utf8'));
const blocks = [...README.matchAll(/```js\n([\s\S]*?)```/g)].map((match) => match[1] as string);

test('the README stays under 25 KB', () => {
  assert.ok(statSync(new URL('README.md', ROOT)).size <= 25 * 1024);
});

test('every js block of the README is an example file or runs here as printed', { timeout: 120_000 }, (t) => {
  const own = blocks.filter((block) => !EXAMPLES.includes(block));
  assert.equal(blocks.length - own.length, 6, 'the six examples/ files the README shows');
  assert.equal(own.length, 3, 'the quick start, the approval and the limits blocks');
  own.forEach((block, index) => {
    const file = new URL(`.readme-block-${process.pid}-${index}.mjs`, ROOT);
    writeFileSync(file, block);
    t.after(() => rmSync(file, { force: true }));
    const run = spawnSync(process.execPath, ['--no-node-snapshot', file.pathname], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(run.status, 0, `block ${index}: ${run.stderr}`);
    // A `// → value` comment names what that line prints (its first line, for a long value).
    for (const [, printed] of block.matchAll(/\/\/ → (.+)$/gm)) {
      const first = (printed as string).split(' { ')[0] as string;
      assert.ok(run.stdout.includes(first), `block ${index} prints ${first}: ${run.stdout}`);
    }
  });
});
