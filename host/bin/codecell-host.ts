// The codecell-host process: JSON-RPC on stdin/stdout, logs on stderr, exit 0 once stdin closes
// and every session was shut down; or, with --listen, a network service (listen.ts) that drains
// on SIGTERM and exits 0. Its command line is host/cli/host-args.ts.
//
// host/bin/ — the process entry points: codecell-host (this file) and codecell (codecell.ts). They
// sit above server/ and cli/, and nothing imports them.
import { IsolatePool } from '../../src/index.js';
import { assertIsolatesUsable, isolatesDisposedCount, settleIsolatesForExit } from '../../src/internal.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { hostCommand, type HostPlan } from '../cli/host-args.js';
import { exitAtOnce } from '../server/catastrophe.js';
import { defaultMemoryBudgetMb } from '../server/memory-budget.js';
import { createHost } from '../server/server.js';
import { startTraceExport, type TraceExport } from '../server/trace-export.js';

const plan = hostCommand(process.argv.slice(2), process);
if (typeof plan === 'number') process.exit(plan);

try {
  assertIsolatesUsable();
} catch (error) {
  process.stderr.write(`codecell-host: ${(error as Error).message}\n`);
  process.exit(2);
}

/**
 * A long-lived host's memory plateaus (SPEC §8): what each cell leaves behind is garbage that
 * Node's small heap would otherwise collect only rarely (and isolated-vm frees a disposed
 * isolate's memory only with its handles), so while cells come and go the heap is collected
 * at most every 2 s. With the small young generation of HOST_NODE_FLAGS: RSS +4 MiB from cell
 * 1 000 to 5 000, against +30 MiB and rising without.
 */
function keepMemoryFlat(): void {
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;
  let seen = isolatesDisposedCount();
  setInterval(() => {
    const disposed = isolatesDisposedCount();
    if (disposed - seen < 64) return;
    seen = disposed;
    collect();
  }, 2_000).unref();
}

keepMemoryFlat();
const traces = await exportTraces(plan);
if (plan.mode === 'stdio') {
  // Started by hand in a terminal: say what it waits for, instead of seeming to hang.
  if (process.stdin.isTTY === true)
    process.stderr.write(
      'codecell-host: serving JSON-RPC on stdin/stdout for a client such as HostClient (codecell/host); ' +
        'for the network, --listen <host>:<port>; --help for more; Ctrl-D ends it\n',
    );
  const isolatePool = new IsolatePool({ memoryBudgetMb: defaultMemoryBudgetMb() });
  const caps = plan.maxResultBytes === undefined ? {} : { caps: { maxResultBytes: plan.maxResultBytes } };
  await createHost({ onCatastrophicError: exitAtOnce, isolatePool, ...caps }).closed;
} else {
  await serveNetwork(plan);
}
await settleIsolatesForExit();
// What the batch still holds goes out before the process ends (after a drain, too).
await traces?.stop();
process.exit(0);

/** Starts the OTLP export the plan asks for (exit 2 saying what to install when it cannot). */
async function exportTraces(plan: HostPlan): Promise<TraceExport | undefined> {
  if (plan.traces === undefined) return undefined;
  try {
    return await startTraceExport(plan.traces, 'codecell-host');
  } catch (error) {
    process.stderr.write(`codecell-host: ${(error as Error).message}\n`);
    process.exit(2);
  }
}

/** Listens until SIGTERM (or SIGINT), then drains: see listen.ts. */
async function serveNetwork(plan: Extract<HostPlan, { mode: 'listen' }>): Promise<void> {
  const { listen } = await import('../server/listen.js');
  let service: Awaited<ReturnType<typeof listen>>;
  try {
    service = await listen({
      host: plan.host,
      port: plan.port,
      ...(plan.token === undefined ? {} : { token: plan.token }),
      ...(plan.tls === undefined ? {} : { tls: plan.tls }),
      ...(plan.maxConnections === undefined ? {} : { maxConnections: plan.maxConnections }),
      ...(plan.maxSessions === undefined ? {} : { maxSessionsPerConnection: plan.maxSessions }),
      ...(plan.maxCells === undefined ? {} : { maxLiveCellsPerConnection: plan.maxCells }),
      ...(plan.memoryBudgetMb === undefined ? {} : { memoryBudgetMb: plan.memoryBudgetMb }),
      caps: {
        ...(plan.maxJournalBytes === undefined ? {} : { journalMaxBytes: plan.maxJournalBytes }),
        ...(plan.maxResultBytes === undefined ? {} : { maxResultBytes: plan.maxResultBytes }),
      },
      defaultLimits: plan.defaultLimits,
      onCatastrophicError: exitAtOnce,
    });
  } catch (error) {
    process.stderr.write(`codecell-host: cannot listen on ${plan.host}:${plan.port}: ${(error as Error).message}\n`);
    process.exit(1);
  }
  if (plan.token === undefined && !isLoopback(plan.host)) {
    process.stderr.write(
      'codecell-host: warning: listening beyond loopback without a token (--token-file or ' +
        'CODECELL_TOKEN); anyone who reaches the port can run code\n',
    );
  }
  const stop = Promise.withResolvers<'SIGTERM' | 'SIGINT'>();
  process.once('SIGTERM', () => stop.resolve('SIGTERM'));
  process.once('SIGINT', () => stop.resolve('SIGINT'));
  // Printed once a SIGTERM would drain: whoever waits for this line may stop the host at once.
  process.stderr.write(`codecell-host listening on ${service.url}\n`);
  const signal = await stop.promise;
  process.stderr.write(
    `codecell-host: ${signal}: draining (${service.stats.sessions} sessions, up to ${plan.drainMs} ms)\n`,
  );
  await service.drain(plan.drainMs);
  process.stderr.write('codecell-host: drained\n');
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
