// The bins relaunch themselves with the Node flags they need when started without them
// (`node bin/codecell-host.js …`); the process that does the work must never outlive the one the
// operator started, however that one ends (hardening v4: SIGKILL left a listening orphan).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { processAlive } from './helpers.js';

const HOST_BIN = fileURLToPath(new URL('../../bin/codecell-host.js', import.meta.url));

test(
  'SIGKILL of a relaunching codecell-host also ends the host it started (no listening orphan)',
  { timeout: 30_000 },
  async (t) => {
    // Started without its flags, as `node bin/codecell-host.js` is: it relaunches itself.
    const parent = spawn(process.execPath, [HOST_BIN, '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const listening = new Promise<void>((resolve) =>
      parent.stderr.on('data', (chunk: Buffer) => {
        stderr += String(chunk);
        if (stderr.includes('listening on')) resolve();
      }),
    );
    let childPid: number | undefined;
    t.after(() => {
      parent.kill('SIGKILL');
      if (childPid !== undefined && processAlive(childPid)) process.kill(childPid, 'SIGKILL');
    });
    await listening;
    const pid = parent.pid as number;
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    assert.equal(children.length, 1, `the relauncher has one child: ${children.join(' ')}`);
    childPid = children[0] as number;
    assert.ok(processAlive(childPid));
    parent.kill('SIGKILL');
    const gone = childPid;
    for (let i = 0; i < 200 && processAlive(gone); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(processAlive(gone), false, 'the relaunched host outlived the process the operator started');
  },
);
