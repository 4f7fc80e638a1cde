// `npm run bench`: every benchmark checks itself, then times; rows go to bench/results/latest.json.
// `npm run bench -- --quick` runs fewer iterations (for a smoke run).
import { writeResults, type ResultRow } from './common.js';
import { latency } from './latency.js';
import { load } from './load.js';
import { memory } from './memory.js';
import { pendingRouter } from './pending-router.js';
import { shutdownLatency } from './shutdown-latency.js';
import { stdio } from './stdio.js';
import { typescript } from './typescript.js';

const quick = process.argv.includes('--quick');
const rows: ResultRow[] = [];
rows.push(...(await shutdownLatency(quick)));
rows.push(...(await stdio(quick)));
rows.push(...(await pendingRouter(quick)));
rows.push(...(await latency(quick)));
rows.push(...(await typescript(quick)));
rows.push(...(await load(quick)));
rows.push(...(await memory(quick)));
const path = new URL('../../bench/results/latest.json', import.meta.url);
writeResults(rows, path);
console.log('\nrows written to bench/results/latest.json');
for (const row of rows) {
  const ratio = row.ratio === undefined ? (row.baseline === undefined ? '' : `  (${row.baseline})`) : `  ratio ${row.ratio} vs ${row.baseline}`;
  console.log(`${row.name}: median ${row.median} ${row.unit}, p99 ${row.p99} ${row.unit}, n=${row.samples}${ratio}`);
}
