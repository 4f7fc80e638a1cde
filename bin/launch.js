// Shared by the bins: isolated-vm needs a supported Node (prebuilt binaries exist for 22, 24 and
// 26) started with --no-node-snapshot, and a bin may need V8 flags of its own (codecell-host keeps
// its young generation small so a long-lived host's memory plateaus). A bin started with its
// flags (the shebang passes them) imports its entry point; one started without restarts itself
// with them.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { unsupportedNodeMessage } from '../dist/src/isolate/node-support.js';

export async function launch(entry, flags = ['--no-node-snapshot']) {
  const unsupported = unsupportedNodeMessage(process.versions.node);
  if (unsupported !== undefined) {
    process.stderr.write(`${unsupported}\n`);
    process.exit(2);
  }
  followNpm();
  const main = fileURLToPath(entry);
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const missing = flags.filter(
    (flag) => !given.some((arg) => arg === flag || arg.startsWith(`${flag.split('=')[0]}=`)),
  );
  if (missing.length === 0) {
    await import(main);
    return;
  }
  // The IPC channel closes when this process ends, however it ends (SIGKILL included): the real
  // process follows it (follow-parent.js) instead of serving on as an orphan.
  const follow = new URL('./follow-parent.js', import.meta.url).href;
  const args = [...process.execArgv, ...missing, '--import', follow, main, ...process.argv.slice(2)];
  const child = spawn(process.execPath, args, { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
  // The signals a supervisor sends (a container's stop is SIGTERM) go to the real process, which
  // drains or ends as it should; this one follows its exit.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

/** The parent of process `pid` (Linux, from /proc), or undefined when it is gone. */
function parentOf(pid) {
  try {
    // The fields after the command's closing parenthesis: state, then the parent's pid.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * Under `npx` (npm exec), npm runs a bin through a shell that outlives npm: a killed npm would
 * leave the bin serving on (a host holding its port). So the bin ends once npm's process is gone:
 * its parent (npm, or the shell) or its parent's parent (npm, under a shell) changed. Linux only.
 */
function followNpm() {
  if (process.env.npm_command !== 'exec' || process.platform !== 'linux') return;
  const parent = process.ppid;
  const grandparent = parentOf(parent);
  const watch = setInterval(() => {
    if (process.ppid === parent && parentOf(parent) === grandparent) return;
    process.stderr.write('codecell: npm exec, which started this process, is gone; exiting\n');
    process.exit(1);
  }, 500);
  watch.unref();
}
