// `npm start` builds only when a source file is newer than the last build (dist/.built).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const stamp = join(root, 'dist', '.built');

/** The newest modification time of the files under `dir` (recursively), or 0. */
function newest(dir) {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const name of readdirSync(dir, { recursive: true })) {
    const stat = statSync(join(dir, String(name)));
    if (stat.isFile()) latest = Math.max(latest, stat.mtimeMs);
  }
  return latest;
}

const sources = Math.max(
  ...['src', 'host', 'sandbox', 'adapters', 'bench', 'test'].map((dir) => newest(join(root, dir))),
  ...['tsconfig.json', 'package.json'].map((file) => statSync(join(root, file)).mtimeMs),
);
if (!existsSync(stamp) || statSync(stamp).mtimeMs < sources) {
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}
