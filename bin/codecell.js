#!/usr/bin/env -S node --no-node-snapshot
// codecell: `codecell run <file|->` runs a cell for a person (see README). isolated-vm needs
// --no-node-snapshot; when this file was started without it, it restarts itself with it.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/host/codecell-main.js', import.meta.url));
const hasFlag = process.execArgv.includes('--no-node-snapshot') ||
  (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes('--no-node-snapshot');

if (hasFlag) {
  await import(main);
} else {
  const child = spawn(process.execPath, ['--no-node-snapshot', main, ...process.argv.slice(2)], { stdio: 'inherit' });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
