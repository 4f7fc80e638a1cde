// SPEC §6: no promise codecell makes for a caller can crash it. A caller that never listens to
// initialEvent, setupEvent, an observation, readText() or a stream runs with
// --unhandled-rejections=strict while its host is killed (or stopped with SIGTERM); it must live on.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const fixture = new URL('../fixtures/careless-caller.js', import.meta.url).pathname;

for (const signal of ['SIGKILL', 'SIGTERM']) {
  for (const when of ['cells', 'setup', 'stream']) {
    test(`a caller that never listens survives its host's ${signal} (${when})`, () => {
      const result = spawnSync(
        process.execPath,
        ['--no-node-snapshot', '--unhandled-rejections=strict', fixture, signal, when],
        { encoding: 'utf8', timeout: 30_000 },
      );
      assert.equal(
        result.status,
        0,
        `exit ${result.status} ${result.signal ?? ''}\n${result.stdout}\n${result.stderr}`,
      );
      assert.match(result.stdout, /survived/);
      if (when === 'stream') assert.match(result.stdout, /stream: ERR_HOST_EXITED/);
    });
  }
}
