// SPEC §11 / issue 8: the cost of type-stripping a 200-line TypeScript cell (sucrase), beside
// the pass over a JavaScript cell of the same size that only looks for dynamic import().
import { Bench } from 'tinybench';
import { prepareSource } from '../src/session/source.js';
import { check, rowsOf, withRatio, type ResultRow } from './common.js';

function cell(lines: number, typed: boolean): string {
  const body: string[] = [];
  for (let i = 0; i < lines / 4; i++) {
    body.push(
      typed ? `interface Row${i} { id: number; name?: string }` : `// row ${i}`,
      typed ? `const row${i}: Row${i} = { id: ${i} } as Row${i};` : `const row${i} = { id: ${i} };`,
      typed
        ? `function get${i}<T extends Row${i}>(r: T): number { return r.id; }`
        : `function get${i}(r) { return r.id; }`,
      `text(get${i}(row${i}));`,
    );
  }
  return body.join('\n');
}

export async function typescript(quick: boolean): Promise<ResultRow[]> {
  const ts = cell(200, true);
  const js = cell(200, false);
  const prepared = prepareSource(ts, 'typescript');
  check(prepared.error === undefined && prepared.code.split('\n').length === 200, 'stripping changed the line count');
  const bench = new Bench({ name: 'typescript', iterations: quick ? 50 : 500, time: 0 });
  bench
    .add('prepare a 200-line JavaScript cell', () => {
      prepareSource(js, 'javascript');
    })
    .add('strip types of a 200-line TypeScript cell', () => {
      prepareSource(ts, 'typescript');
    });
  await bench.run();
  console.log(`\n${bench.name}`);
  console.table(bench.table());
  const rows = rowsOf(bench, 'us');
  withRatio(
    rows,
    `${bench.name}: strip types of a 200-line TypeScript cell`,
    `${bench.name}: prepare a 200-line JavaScript cell`,
  );
  return rows;
}
