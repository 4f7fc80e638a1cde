// A reproducible random sample of a Stryker config's code lines, for a mutation score when the
// whole run would take a day (the host's 4 000 mutants, each judged by tests that start hosts).
// Prints a `--mutate` argument of `file:line-line` ranges: every mutant on a sampled line is run.
//   npx stryker run stryker.host.config.json --mutate "$(node scripts/mutate-sample.js stryker.host.config.json 160 1)"
// Lines that are blank, comments, imports or a lone closing bracket are not sampled (nothing to
// mutate there). Sampling lines, not mutants, weighs each line once: the score it gives is an
// estimate of the whole run's, with the sampling error the CONTRIBUTING.md figure states.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const [configPath, countArg = '160', seedArg = '1'] = process.argv.slice(2);
if (configPath === undefined) throw new Error('usage: node scripts/mutate-sample.js <stryker config> [lines] [seed]');
const count = Number(countArg);
const seed = Number(seedArg);
if (!Number.isInteger(count) || count < 1) throw new Error(`lines must be a positive integer, got ${countArg}`);
if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seedArg}`);

const { mutate } = JSON.parse(readFileSync(configPath, 'utf8'));

// Files matching the config's patterns: a folder's tree (dir, two stars, star.ts) or dir/prefix*.ts.
function filesOf(pattern) {
  const tree = /^(.*)[/][*][*][/][*](\.\w+)$/.exec(pattern);
  if (tree) return walk(tree[1]).filter((file) => file.endsWith(tree[2]));
  const flat = /^(.*)[/]([^*/]*)[*](\.\w+)$/.exec(pattern);
  if (flat) {
    const [, dir, prefix, ext] = flat;
    return readdirSync(dir)
      .filter((name) => name.startsWith(prefix) && name.endsWith(ext))
      .map((name) => join(dir, name));
  }
  throw new Error(`unsupported mutate pattern ${pattern}`);
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

const NOTHING_TO_MUTATE = /^\s*([/][/]|[/][*]|[*]|import\b|[)}\]];?,?\s*$|$)/;
const lines = mutate
  .flatMap(filesOf)
  .sort()
  .flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((text, index) => (NOTHING_TO_MUTATE.test(text) ? [] : [`${file}:${index + 1}-${index + 1}`])),
  );

// mulberry32: a small seeded generator, so one seed names one sample.
let state = seed >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

// A partial Fisher–Yates shuffle: the first `count` lines of a random order.
const picked = Math.min(count, lines.length);
for (let i = 0; i < picked; i++) {
  const j = i + Math.floor(random() * (lines.length - i));
  [lines[i], lines[j]] = [lines[j], lines[i]];
}
process.stderr.write(`${picked} of ${lines.length} code lines sampled (seed ${seed})\n`);
process.stdout.write(lines.slice(0, picked).sort().join(','));
