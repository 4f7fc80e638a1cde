// Shared by the bins: isolated-vm needs a supported Node (prebuilt binaries exist for 22, 24 and
// 26) started with --no-node-snapshot. A bin started with the flag (the shebang passes it) imports
// its entry point; one started without it restarts itself with it.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { unsupportedNodeMessage } from '../dist/src/isolate/node-support.js';

export async function launch(entry) {
  const unsupported = unsupportedNodeMessage(process.versions.node);
  if (unsupported !== undefined) {
    process.stderr.write(`${unsupported}\n`);
    process.exit(2);
  }
  const main = fileURLToPath(entry);
  const hasFlag = process.execArgv.includes('--no-node-snapshot') ||
    (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes('--no-node-snapshot');
  if (hasFlag) {
    await import(main);
    return;
  }
  const child = spawn(process.execPath, ['--no-node-snapshot', main, ...process.argv.slice(2)], { stdio: 'inherit' });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
