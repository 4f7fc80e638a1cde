// Pins the public surface: adding or removing an export of `codecell` or `codecell/host` is a
// deliberate change to this list (types are erased, so only runtime values are listed).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

test('codecell exports exactly these values', async () => {
  const surface = await import('codecell');
  assert.deepEqual(Object.keys(surface).sort(), [
    'CellInterrupt',
    'CodeCellError',
    'DEFAULT_CALLBACK_ABORT_DEADLINE_MS',
    'DEFAULT_ISOLATE_POOL_SIZE',
    'DEFAULT_LIMITS',
    'ERROR_CODES',
    'IsolatePool',
    'OVERFLOW_MESSAGE',
    'PendingRouter',
    'ROUTING_ENDED_MESSAGE',
    'SessionRuntime',
    'advanceDurableCell',
    'approvalInterrupt',
    'cellFailure',
    'codeModeResult',
    'codeModeStatus',
    'createCodeModeTools',
    'defineTool',
    'describeExecTool',
    'describePause',
    'isCodeCellError',
    'makeCall',
    'memoryStore',
    'postgresStore',
    'renderCodeModeResult',
    'renderToolDeclarations',
    'requireApproval',
    'runDurableCell',
    'sqliteStore',
    'toolIdentifier',
    'toolSource',
  ]);
});

test('codecell/host exports exactly these values', async () => {
  const surface = await import('codecell/host');
  // Sessions an embedder receives (RemoteSession, BuiltSession) are types only (docs/adr-0009-public-api.md).
  assert.deepEqual(Object.keys(surface).sort(), [
    'HostClient',
    'JsonRpcErrors',
    'Methods',
    'PROTOCOL_VERSION',
    'SessionBuilder',
    'createHost',
    'errorFromWire',
    'wireCodeOf',
  ]);
});

test('the adapters export their entry points', async () => {
  assert.deepEqual(Object.keys(await import('codecell/ai-sdk')).sort(), [
    'aiSdkToolSource',
    'codeModeToolApproval',
    'codeModeTools',
  ]);
  assert.deepEqual(Object.keys(await import('codecell/openai-agents')).sort(), ['agentsToolSource', 'codeModeTools']);
  assert.deepEqual(Object.keys(await import('codecell/tanstack')).sort(), [
    'codecellIsolateDriver',
    'tanstackToolSource',
  ]);
  assert.deepEqual(Object.keys(await import('codecell/dbos')).sort(), ['answerCell', 'registerCellWorkflow']);
  assert.deepEqual(Object.keys(await import('codecell/restate')).sort(), ['answerCell', 'cellWorkflow']);
  assert.deepEqual(Object.keys(await import('codecell/workflow')).sort(), [
    'advanceCell',
    'answerCell',
    'answerToken',
    'callTool',
    'cellLoop',
  ]);
});

test('codecell/testing exports exactly these values', async () => {
  const surface = await import('codecell/testing');
  assert.deepEqual(Object.keys(surface).sort(), ['connectInProcess']);
});

test('the error codes are pinned too', async () => {
  const { ERROR_CODES } = await import('codecell');
  // The pin, as one line per group: the codes callers see, then the internal causes.
  const pinned = [
    'SHUTTING_DOWN MISSING_CELL BUSY_OBSERVER ALREADY_TERMINATING INVALID_REQUEST LIMIT_EXCEEDED',
    'NODE_SNAPSHOT UNSUPPORTED_NODE HOST_EXITED PROTOCOL',
    'SETUP_TIMEOUT UNAUTHORIZED HOST_UNREACHABLE SESSION_MOVED STORE_FAILED',
    'CANCELLED ISOLATE_DISPOSED MEMORY_LIMIT',
  ].flatMap((group) => group.split(' ').map((code) => `ERR_${code}`));
  assert.deepEqual([...ERROR_CODES], pinned);
});

test('the published declarations never import isolated-vm (an embedder has only one of its majors)', () => {
  for (const folder of ['src', 'host', 'adapters']) {
    const dir = fileURLToPath(new URL(`../${folder}/`, import.meta.url));
    const declarations = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((name) =>
      name.endsWith('.d.ts'),
    );
    assert.ok(declarations.length >= 3, folder);
    for (const name of declarations) {
      assert.doesNotMatch(readFileSync(join(dir, name), 'utf8'), /from 'isolated-vm/, `${folder}/${name}`);
    }
  }
});
