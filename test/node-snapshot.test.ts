import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../src/index.js', import.meta.url));
const probe = `
  const { SessionRuntime } = await import(${JSON.stringify(entry)});
  try {
    new SessionRuntime({ invokeTool: async () => null, notify: async () => {} });
    console.log('constructed');
  } catch (error) {
    console.log(error.code + ' ' + error.message);
  }
`;

test('without --no-node-snapshot the runtime throws ERR_NODE_SNAPSHOT with the fix', () => {
  const env = { ...process.env, NODE_OPTIONS: '' };
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { env, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^ERR_NODE_SNAPSHOT .*--no-node-snapshot/);
});

test('NODE_OPTIONS=--no-node-snapshot is accepted as well as the flag', () => {
  const env = { ...process.env, NODE_OPTIONS: '--no-node-snapshot' };
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { env, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout.trim(), 'constructed');
});
