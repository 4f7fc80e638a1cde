// What the runtime and the bins need from Node: a supported version, started with --no-node-snapshot.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadIsolatedVm } from '../src/isolate/load.js';
import { unsupportedNodeMessage } from '../src/isolate/node-support.js';

const entry = fileURLToPath(new URL('../src/index.js', import.meta.url));
const bins = ['codecell', 'codecell-host'].map((name) =>
  fileURLToPath(new URL(`../../bin/${name}.js`, import.meta.url)),
);
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

// Makes a child report an unsupported Node version before anything else loads.
const pretendNode20 =
  "data:text/javascript,Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '20.19.0' } });";
const NODE20_LINE =
  'codecell supports Node 22, 24 and 26 (isolated-vm has prebuilt binaries for those); this is Node 20.19.0';

test('on an unsupported Node the runtime throws ERR_UNSUPPORTED_NODE at first use, flag or no flag', () => {
  // Without the flag too: the unsupported Node is the one error to fix (the flag would not help).
  for (const flags of [['--no-node-snapshot'], []]) {
    const args = [...flags, '--import', pretendNode20, '--input-type=module', '-e', probe];
    const env = { ...process.env, NODE_OPTIONS: '' };
    const result = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `ERR_UNSUPPORTED_NODE ${NODE20_LINE}\n`, flags.join(' '));
  }
});

test('NODE_OPTIONS=--no-node-snapshot is accepted as well as the flag', () => {
  const env = { ...process.env, NODE_OPTIONS: '--no-node-snapshot' };
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { env, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout.trim(), 'constructed');
});

test('unsupportedNodeMessage accepts exactly Node 22, 24 and 26', () => {
  const cases: Array<[string, boolean]> = [
    ['18.20.4', false],
    ['20.19.0', false],
    ['21.7.3', false],
    ['22.0.0', true],
    ['v22.23.3', true],
    ['23.11.0', false],
    ['24.21.0', true],
    ['25.1.0', false],
    ['26.10.0', true],
    ['27.0.0', false],
  ];
  for (const [version, supported] of cases) {
    const message = unsupportedNodeMessage(version);
    if (supported) assert.equal(message, undefined, version);
    else
      assert.equal(
        message,
        `codecell supports Node 22, 24 and 26 (isolated-vm has prebuilt binaries for those); this is Node ${version}`,
      );
  }
});

test('loadIsolatedVm refuses an unsupported Node with ERR_UNSUPPORTED_NODE, even after a load', () => {
  assert.equal(typeof loadIsolatedVm().Isolate, 'function');
  assert.throws(() => loadIsolatedVm('20.19.0'), { code: 'ERR_UNSUPPORTED_NODE', message: NODE20_LINE });
});

test('on an unsupported Node both bins exit 2 with one line naming the supported versions', () => {
  for (const bin of bins) {
    const args = ['--import', pretendNode20, bin, 'run', '-'];
    const result = spawnSync(process.execPath, args, { input: 'text(1)', encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 2, bin);
    assert.equal(result.stderr, `${NODE20_LINE}\n`, bin);
    assert.equal(result.stdout, '', bin);
  }
});
