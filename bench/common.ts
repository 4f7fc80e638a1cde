// Shared benchmark plumbing: result rows, the JSON file, and a quiet delegate.
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Bench } from 'tinybench';
import type { JsonValue, Logger, NestedToolCall, SessionRuntimeDelegate } from '../src/index.js';

export interface ResultRow {
  name: string;
  unit:
    | 'ms'
    | 'us'
    | 'msg/s'
    | 'ns/msg'
    | 'cells/s'
    | 'calls/s'
    | 'ratio'
    | 'KiB'
    | 'MiB'
    | 'instructions'
    | 'bytes'
    | 'records';
  median: number;
  p99: number;
  samples: number;
  ratio?: number;
  baseline?: string;
}

export const quietLogger: Logger = { warn: () => {}, error: () => {} };

export const round = (value: number): number => Math.round(value * 1000) / 1000;

/** The cell every benchmark of sequential tool calls runs: `calls` awaited `tools.echo`, and the text it ends with. */
export function sequentialCalls(calls: number): { source: string; sum: string } {
  return {
    source: `let n = 0; for (let i = 0; i < ${calls}; i++) n += (await tools.echo({ i })).i; text(String(n))`,
    sum: String((calls * (calls - 1)) / 2),
  };
}

/** The value at fraction `p` (0–1) of `values` in ascending order (NaN for none). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? Number.NaN;
}

/** Samples by row name, in the order rows were first measured; a row's median and p99 of them. */
export class Samples {
  readonly #rows = new Map<string, { unit: ResultRow['unit']; values: number[] }>();

  add(name: string, unit: ResultRow['unit'], values: number[]): void {
    const row = this.#rows.get(name) ?? { unit, values: [] };
    row.values.push(...values);
    this.#rows.set(name, row);
  }

  rows(): ResultRow[] {
    return [...this.#rows].map(([name, { unit, values }]) => ({
      name,
      unit,
      median: round(percentile(values, 0.5)),
      p99: round(percentile(values, 0.99)),
      samples: values.length,
    }));
  }
}

/** One row per task, from tinybench's latency statistics (ms), optionally scaled to µs. */
export function rowsOf(bench: Bench, unit: 'ms' | 'us' = 'ms'): ResultRow[] {
  const scale = unit === 'us' ? 1000 : 1;
  return bench.tasks.map((task) => {
    const result = task.result;
    if (result === undefined || !('latency' in result)) throw new Error(`benchmark task ${task.name} did not run`);
    return {
      name: `${bench.name}: ${task.name}`,
      unit,
      median: round(result.latency.p50 * scale),
      p99: round(result.latency.p99 * scale),
      samples: result.latency.samplesCount,
    };
  });
}

/** Adds `ratio` = row median / baseline median to the row named `name`. */
export function withRatio(rows: ResultRow[], name: string, baseline: string): void {
  const row = rows.find((r) => r.name === name);
  const base = rows.find((r) => r.name === baseline);
  if (row === undefined || base === undefined) throw new Error(`no rows ${name} / ${baseline}`);
  row.ratio = round(row.median / base.median);
  row.baseline = baseline;
}

/** The machine a run was measured on, and how busy it was before and after. */
export interface MachineNote {
  node: string;
  cores: number;
  cpu: string;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
}

export function writeResults(machine: MachineNote, rows: ResultRow[], path: URL): void {
  mkdirSync(new URL('.', path), { recursive: true });
  writeFileSync(path, `${JSON.stringify({ machine, rows }, null, 2)}\n`);
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`benchmark self-check failed: ${message}`);
}

export type ToolFn = (call: NestedToolCall, signal: AbortSignal) => Promise<JsonValue | undefined>;

/** A delegate that remembers every signal it was given, to check they were all aborted. */
export function delegateOf(
  tool: ToolFn,
  notify: (signal: AbortSignal) => Promise<void>,
): SessionRuntimeDelegate & { aborted(): number; calls(): number } {
  const signals: AbortSignal[] = [];
  return {
    invokeTool: (call, signal) => {
      signals.push(signal);
      return tool(call, signal);
    },
    notify: (_notification, signal) => {
      signals.push(signal);
      return notify(signal);
    },
    aborted: () => signals.filter((signal) => signal.aborted).length,
    calls: () => signals.length,
  };
}

export const never = (): Promise<never> => new Promise<never>(() => {});

export function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_resolve, reject) =>
    signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
  );
}
