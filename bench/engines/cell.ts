// The engine soak's cell (soak.ts, worker.ts): a charge (not idempotent), then a rate (idempotent)
// and a lookup (not) in parallel; it prints what each call told it, once.
export const SOAK_CELL = [
  "const told = (call) => call.then((v) => 'ok:' + v, (e) => 'err:' + e.message);",
  'const c = await told(tools.charge({}));',
  'const [r, l] = await Promise.all([told(tools.rate({})), told(tools.lookup({}))]);',
  'text(JSON.stringify({ c, r, l }));',
].join(' ');

/** The message a call in doubt fails with in the cell (docs/dbos.md, docs/restate.md). */
export const inDoubtMessage = (tool: string): string =>
  `tools.${tool} is in doubt: it was under way when a worker stopped, and it may or may not have taken effect`;
