// The README's "Out of process" snippets run as printed when pasted into a file: spawning hosts,
// and connecting to a listening one over the network.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { startListening } from './network-helpers.js';

const ROOT = new URL('../..', import.meta.url);
const README = readFileSync(new URL('README.md', ROOT), 'utf8');
const SECTION = README.slice(README.indexOf('## Out of process'), README.indexOf('## Setting a session up'));

function runExample(name: string, shown = true): string {
  const example = readFileSync(new URL(`examples/${name}.mjs`, ROOT), 'utf8');
  assert.equal(
    SECTION.includes(`\`\`\`js\n${example}\`\`\``),
    shown,
    `the README's Out of process section ${shown ? 'shows' : 'names'} examples/${name}.mjs`,
  );
  if (!shown) assert.ok(SECTION.includes(`examples/${name}.mjs`));
  assert.ok(example.trimEnd().split('\n').length < 15, `examples/${name}.mjs is under 15 lines`);
  const { status, stdout, stderr } = spawnSync(process.execPath, ['--no-node-snapshot', `examples/${name}.mjs`], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(status, 0, stderr);
  return stdout;
}

test('every js snippet of the Out of process section is an example that is run here', () => {
  const snippets = SECTION.match(/```js\n[\s\S]*?```/g) ?? [];
  assert.equal(snippets.length, 2);
});

test('the HostClient.spawn snippet runs as printed', { timeout: 60_000 }, () => {
  assert.equal(runExample('host-client'), "[ { type: 'text', text: '3' } ] true\n");
});

test('the suspend example the README names runs: an in-process session resumed on a host', { timeout: 60_000 }, () => {
  assert.equal(runExample('suspend', false), "2 [ { type: 'text', text: '42' } ]\n");
});

test('the network snippet runs as printed against the host its first line starts', { timeout: 60_000 }, async (t) => {
  await startListening(t, '127.0.0.1:7077', [], { CODECELL_TOKEN: 'secret' });
  assert.equal(runExample('network'), '3 on ws://127.0.0.1:7077\n');
});
