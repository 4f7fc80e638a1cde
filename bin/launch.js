// Shared by the bins: isolated-vm needs Node's --no-node-snapshot. A bin started with it (the
// shebang passes it) imports its entry point; one started without it restarts itself with it.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export async function launch(entry) {
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
