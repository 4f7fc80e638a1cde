// `npm run nemesis:mutants [-- --minutes 1.5 --seed 7 --rounds 3 --only name,name]` (issue 83): the
// nemesis proves its checker. Each mutant is this build with one promise of SPEC §16 broken on
// purpose — a line of the built JavaScript changed in a copy of dist/ and package.json
// (.mutants/<name>/, below node_modules, so the copy runs with this checkout's dependencies) — and
// short nemesis runs on it, each on the next seed, until one catches it or `rounds` have run. Some
// mutants need a fault to land in a narrow window (an approved deploy in flight), so one short run
// can miss them on an unlucky machine. A mutant no round catches fails the command: either the
// nemesis never reaches what it broke, or the checker cannot see it. Prints, per mutant, how many
// violations and the first, and last, the mutants not caught.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Mutant {
  name: string;
  /** The promise it breaks. */
  breaks: string;
  /** The built file (under dist/) and its lines changed: each `from` must be there. */
  file: string;
  edits: { from: string; to: string }[];
}

const MUTANTS: Mutant[] = [
  {
    name: 'in-doubt-told-failed',
    breaks: 'a call in doubt reaches its cell as a plain failure, not as a pause in doubt',
    file: 'src/cell/cell.js',
    edits: [
      {
        from: 'const refused = this.interrupt(call, next.payload, next.inDoubt);',
        to: "const refused = next.inDoubt ? 'the call failed' : this.interrupt(call, next.payload, next.inDoubt);",
      },
    ],
  },
  {
    name: 'stale-append-accepted',
    breaks: "PostgreSQL's group commit lands an append whose epoch is no longer its session's",
    file: 'src/store/postgres-store.js',
    edits: [
      { from: 's.key = b.key AND s.epoch = b.epoch', to: 's.key = b.key' },
      { from: '(b.key, b.epoch) IN (SELECT key, epoch FROM held)', to: 'b.key IN (SELECT key FROM held)' },
      { from: '(b.key, b.epoch) IN (SELECT key, epoch FROM held)', to: 'b.key IN (SELECT key FROM held)' },
    ],
  },
  {
    name: 'in-doubt-remade',
    breaks: 'a call in doubt of a tool that is not idempotent is made again by its run',
    file: 'src/ledger/in-doubt.js',
    edits: [{ from: 'if (tool.idempotent === true)', to: 'if (true)' }],
  },
  {
    name: 'answers-before-durable',
    breaks: 'answers (ends, pauses, results, events) leave before their records are durable',
    file: 'src/store/answer-gate.js',
    edits: [
      { from: 'if (log === undefined)\n            return value;', to: 'if (true)\n            return value;' },
      { from: 'if (log === undefined)\n            return send();', to: 'if (true)\n            return send();' },
    ],
  },
  {
    name: 'cursor-forgets-ends',
    breaks: 'the durable cursor tells again a cell whose end it told',
    file: 'src/streams/session-cursor.js',
    edits: [{ from: 'if (this.#ended.has(cellId))', to: 'if (false)' }],
  },
  {
    name: 'approval-forgotten',
    breaks: 'a call made on a person’s approval is not marked so: after a loss it is asked for again',
    file: 'src/ledger/cell-entries.js',
    edits: [{ from: "else if (known.state !== 'made')", to: 'else if (false)' }],
  },
];

const argument = (name: string): string | undefined => {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? undefined : process.argv[at + 1];
};
const minutes = argument('minutes') ?? '1.5';
const seed = Number(argument('seed') ?? '7');
const rounds = Number(argument('rounds') ?? '3');
if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(rounds) || rounds < 1)
  throw new Error('--seed and --rounds take integers, --rounds at least 1');
const only = argument('only');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const dist = join(root, 'dist');

/** A copy of dist/ with the mutant's edits; its nemesis runner's path. */
function build(mutant: Mutant): string {
  const copy = join(root, '.mutants', mutant.name);
  rmSync(copy, { recursive: true, force: true });
  cpSync(dist, join(copy, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(copy, 'package.json'));
  const path = join(copy, 'dist', mutant.file);
  let text = readFileSync(path, 'utf8');
  for (const { from, to } of mutant.edits) {
    if (!text.includes(from))
      throw new Error(`mutant ${mutant.name}: ${mutant.file} no longer has ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  writeFileSync(path, text);
  return join(copy, 'dist', 'bench', 'nemesis', 'run.js');
}

/** Runs the nemesis on the mutant: its violations as it printed them. */
function nemesis(runner: string, seed: number): Promise<{ violations: number; first: string[]; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--no-node-snapshot', '--unhandled-rejections=strict', runner, '--minutes', minutes, '--seed', String(seed)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', () => {
      const counted = /nemesis: (\d+) violation\(s\)/.exec(out);
      // A run that did not finish catches nothing: its last lines say why.
      if (counted === null)
        return resolve({
          violations: 0,
          first: ['the nemesis did not finish:', ...out.trim().split('\n').slice(-8)],
          out,
        });
      const first = out
        .slice(counted.index)
        .split('\n')
        .filter((line) => /^ {2}\S/.test(line))
        .slice(0, 3)
        .map((line) => line.trim());
      resolve({ violations: Number(counted[1]), first, out });
    });
  });
}

if (!existsSync(join(dist, 'bench', 'nemesis', 'run.js'))) throw new Error('build first: npm run build');
const chosen = MUTANTS.filter((mutant) => only === undefined || only.split(',').includes(mutant.name));
const survived: string[] = [];
for (const mutant of chosen) {
  console.log(`mutant ${mutant.name}: ${mutant.breaks}`);
  const runner = build(mutant);
  let caught = false;
  for (let round = 0; round < rounds && !caught; round++) {
    const { violations, first, out } = await nemesis(runner, seed + round);
    writeFileSync(join(root, '.mutants', `${mutant.name}.log`), out);
    caught = violations > 0;
    console.log(`  ${violations} violation(s) in ${minutes} min (seed ${seed + round})${caught ? '' : ': not caught'}`);
    for (const line of first) console.log(`    ${line}`);
  }
  if (!caught) survived.push(mutant.name);
  rmSync(join(root, '.mutants', mutant.name), { recursive: true, force: true });
}
console.log(`mutants: ${chosen.length - survived.length} of ${chosen.length} caught`);
if (survived.length > 0) console.log(`mutants NOT CAUGHT in ${rounds} round(s): ${survived.join(', ')}`);
process.exit(survived.length === 0 ? 0 : 1);
