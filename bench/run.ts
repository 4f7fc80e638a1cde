// `npm run bench`: every benchmark checks itself, then times; rows go to bench/results/latest.json.
// `npm run bench -- --quick` runs fewer iterations (a smoke run; it writes no results).
// `npm run bench -- --peers` installs the Codex host and the in-process peers into a cache folder first if missing.
import { cellStages } from './cell-stages.js';
import { compare } from './compare.js';
import { fairness } from './fairness.js';
import { inProcessPeers } from './peers/in-process.js';
import { journal } from './journal.js';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { writeResults, type ResultRow } from './common.js';
import { load } from './load.js';
import { memory } from './memory.js';
import { pendingRouter } from './pending-router.js';
import { shutdownLatency } from './shutdown-latency.js';
import { stdio } from './stdio.js';
import { stores } from './stores.js';
import { tracing } from './tracing.js';
import { typescript } from './typescript.js';

const quick = process.argv.includes('--quick');
const peers = process.argv.includes('--peers');
const loadAverageBefore = loadavg().map((value) => Math.round(value * 100) / 100);
const rows: ResultRow[] = [];
// The stages first, in a fresh process: the comparison leaves it with a large resident set.
rows.push(...(await cellStages(quick)));
rows.push(...(await compare({ quick, peers })));
rows.push(...(await inProcessPeers({ quick, install: peers })));
rows.push(...(await shutdownLatency(quick)));
rows.push(...(await stdio(quick)));
rows.push(...(await pendingRouter(quick)));
rows.push(...(await typescript(quick)));
rows.push(...(await tracing(quick)));
rows.push(...(await journal(quick)));
rows.push(...(await stores(quick)));
rows.push(...(await load(quick)));
rows.push(...(await memory(quick)));
rows.push(...(await fairness()));
for (const row of rows) {
  const ratio =
    row.ratio === undefined
      ? row.baseline === undefined
        ? ''
        : `  (${row.baseline})`
      : `  ratio ${row.ratio} vs ${row.baseline}`;
  console.log(`${row.name}: median ${row.median} ${row.unit}, p99 ${row.p99} ${row.unit}, n=${row.samples}${ratio}`);
}
if (quick) {
  console.log('\n--quick: results not written (bench/results/latest.json holds the last full run)');
} else {
  const machine = {
    node: process.version,
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    loadAverageBefore,
    loadAverageAfter: loadavg().map((value) => Math.round(value * 100) / 100),
  };
  console.log(`machine: ${JSON.stringify(machine)}`);
  writeResults(machine, rows, new URL('../../bench/results/latest.json', import.meta.url));
  console.log('\nrows written to bench/results/latest.json');
}
