// Issue 53 (SPEC §13): what the journal costs. In one process, in interleaved rounds, the
// sequential tool round trip and cells/s under load of in-process sessions that keep a journal
// (the default: journalMaxBytes 1 MiB) and of sessions that keep none (journalMaxBytes: 0).
import type { ResultRow } from './common.js';
import { interleaved } from './session-ab.js';

export async function journal(quick: boolean): Promise<ResultRow[]> {
  const labels = { off: 'no journal (journalMaxBytes 0)', on: 'journal (the default)' };
  const calls = quick ? 200 : 2_000;
  const cells = quick ? 5 : 50;
  return interleaved('journal', labels, quick, (on) => ({
    calls,
    cells,
    options: on ? {} : { limits: { journalMaxBytes: 0 } },
  }));
}
