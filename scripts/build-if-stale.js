// `npm start` builds only when a source file is newer than the last build (dist/.built).
// `--stamp` (the end of `npm run build`, so of `npm ci`'s prepare too) only records a build;
// `--dry-run` says `stale` or `fresh` and builds nothing.
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
const stale = !existsSync(stamp) || statSync(stamp).mtimeMs < sources;
if (process.argv.includes('--stamp')) writeFileSync(stamp, `${new Date().toISOString()}\n`);
else if (process.argv.includes('--dry-run')) console.log(stale ? 'stale' : 'fresh');
// (The build writes the stamp itself.)
else if (stale) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
