// codecell-host's Prometheus metrics (prom-client), served at GET /metrics by a listening host:
// its load (sessions, cells running and paused, connections, whether it accepts sessions), cells
// by outcome, sessions moved or resumed here, cells replayed here,
// tool-call latency, terminate and shutdown latency against the shared deadline, and Node's
// defaults (event-loop delay, RSS, heap). Loaded only by a listening host.
import * as prom from 'prom-client';
import { pausedCellsTotal, runGateTotals } from '../../src/internal.js';
import type { HostStats } from './stats.js';

export interface HostMetrics {
  readonly contentType: string;
  /** The exposition text. */
  text(): Promise<string>;
}

/** Seconds: around the 100 ms deadline that bounds terminate and shutdown. */
const DEADLINE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.125, 0.15, 0.2, 0.5, 1, 5];
const TOOL_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1, 5, 30];

export function hostMetrics(stats: HostStats, connections: () => number): HostMetrics {
  const registry = new prom.Registry();
  // Their usual names (process_resident_memory_bytes, nodejs_eventloop_lag_seconds, ...).
  prom.collectDefaultMetrics({ register: registry });
  // Three of them are gauges named like counters (nodejs_active_handles_total, ...), which
  // `promtool check metrics` rejects: they are left out.
  for (const metric of registry.getMetricsAsArray())
    if (metric instanceof prom.Gauge && metric.name.endsWith('_total')) registry.removeSingleMetric(metric.name);
  registerGauges(registry, stats, connections);
  const registers = [registry];
  const cells = new prom.Counter({
    name: 'codecell_cells_total',
    help: 'Cells closed, by outcome and termination reason.',
    labelNames: ['outcome', 'reason'],
    registers,
  });
  const toolCalls = new prom.Histogram({
    name: 'codecell_tool_call_seconds',
    help: 'Nested tool calls, from the call to its answer (delegate round trip included).',
    labelNames: ['ok'],
    buckets: TOOL_BUCKETS,
    registers,
  });
  const terminate = new prom.Histogram({
    name: 'codecell_terminate_seconds',
    help: 'cell/terminate, from the request to its answer.',
    buckets: DEADLINE_BUCKETS,
    registers,
  });
  const shutdown = new prom.Histogram({
    name: 'codecell_shutdown_seconds',
    help: 'Session shutdowns, from the request to the end.',
    buckets: DEADLINE_BUCKETS,
    registers,
  });
  const restored = new prom.Counter({
    name: 'codecell_sessions_restored_total',
    help:
      "Sessions created here from another's state: moved from a lost or draining host (move), " +
      'or resumed from a snapshot.',
    labelNames: ['from'],
    registers,
  });
  const replayed = new prom.Counter({
    name: 'codecell_cells_replayed_total',
    help: 'Cells lost with their host that ran again here from their journal.',
    registers,
  });
  // Every tool call is observed: the two label sets are bound once, not hashed per call.
  const answered = toolCalls.labels({ ok: 'true' });
  const failed = toolCalls.labels({ ok: 'false' });
  stats.observe({
    cellClosed: (outcome, reason) => cells.inc({ outcome, reason: reason ?? '' }),
    toolCall: (ms, ok) => (ok ? answered : failed).observe(ms / 1000),
    terminated: (ms) => terminate.observe(ms / 1000),
    shutDown: (ms) => shutdown.observe(ms / 1000),
    sessionRestored: (from) => restored.inc({ from }),
    cellReplayed: () => replayed.inc(),
  });
  return { contentType: registry.contentType, text: () => registry.metrics() };
}

/** The gauges, each read when /metrics is scraped. */
function registerGauges(registry: prom.Registry, stats: HostStats, connections: () => number): void {
  const gauge = (name: string, help: string, read: () => number): void => {
    new prom.Gauge({
      name,
      help,
      registers: [registry],
      collect: function (this: prom.Gauge) {
        this.set(read());
      },
    });
  };
  gauge('codecell_sessions', 'Sessions open on this host, over all connections.', () => stats.sessions);
  gauge('codecell_cells_running', 'Cells admitted and not yet closed.', () => stats.cellsRunning);
  gauge(
    'codecell_cells_executing',
    "Cells holding one of their session's run slots (maxRunningCells): executing JavaScript.",
    () => runGateTotals().executing,
  );
  gauge(
    'codecell_cells_waiting',
    'Cells with work to run that wait for a run slot of their session.',
    () => runGateTotals().waiting,
  );
  gauge('codecell_cells_paused', 'Cells a tool paused (CellInterrupt), waiting for resumeCell.', () =>
    pausedCellsTotal(),
  );
  gauge('codecell_connections', 'Client connections open.', connections);
  gauge('codecell_accepting_sessions', '1 while the host accepts new sessions, 0 while it drains.', () =>
    stats.accepting ? 1 : 0,
  );
}
