// Loading isolated-vm: the one place that requires it, choosing the installed major with a
// prebuilt binary for the running Node, and the checks of what it needs from the process.
import { createRequire } from 'node:module';
// Types from 6.x: installed on every supported Node here (7.x is skipped on Node 22), same API.
import type IsolatedVm from 'isolated-vm-6';
import { CodeCellError, messageOf } from '../errors.js';
import { nodeMajor, PREBUILT_ISOLATED_VM, unsupportedNodeMessage } from './node-support.js';

/** @internal */
export type Ivm = typeof IsolatedVm;

let loaded: Ivm | undefined;

/**
 * isolated-vm for the running Node: each installed major (aliased packages `isolated-vm-6` and
 * `isolated-vm-7`) ships prebuilt binaries for some Node ABIs only, so the one matching this Node
 * is loaded at first use (docs/adr-0004-node-versions.md). Throws ERR_UNSUPPORTED_NODE with one
 * line instead of a native stack. Internal: kept out of the published declarations, which then
 * never name isolated-vm (an embedder's Node has only one of the two installed).
 * @internal
 */
export function loadIsolatedVm(version: string = process.versions.node): Ivm {
  // Called for every isolate: once loaded for this Node, there is nothing left to check.
  if (loaded !== undefined && version === process.versions.node) return loaded;
  const unsupported = unsupportedNodeMessage(version);
  if (unsupported !== undefined) throw new CodeCellError('ERR_UNSUPPORTED_NODE', unsupported);
  if (loaded !== undefined) return loaded;
  const candidates = PREBUILT_ISOLATED_VM[nodeMajor(version)] ?? [];
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  for (const name of candidates) {
    try {
      loaded = require(name) as Ivm;
      return loaded;
    } catch (error) {
      failures.push(`${name}: ${messageOf(error).split('\n')[0] ?? ''}`);
    }
  }
  throw new CodeCellError(
    'ERR_UNSUPPORTED_NODE',
    `codecell could not load a prebuilt isolated-vm for Node ${version} on ` +
      `${process.platform}-${process.arch} (${failures.join('; ')})`,
  );
}

const NODE_SNAPSHOT_FIX =
  'isolated-vm needs Node started with --no-node-snapshot: ' +
  'run `node --no-node-snapshot …` or set NODE_OPTIONS=--no-node-snapshot';

let snapshotChecked = false;

/**
 * Checks, at first use, what isolated-vm needs from the process: a supported Node
 * (ERR_UNSUPPORTED_NODE) started with --no-node-snapshot (ERR_NODE_SNAPSHOT), instead of letting
 * isolated-vm fail with a native stack or crash the process later.
 */
export function assertIsolatesUsable(): void {
  // The Node first: on one codecell cannot run on, the flag is no fix (one error, the real one).
  const unsupported = unsupportedNodeMessage(process.versions.node);
  if (unsupported !== undefined) throw new CodeCellError('ERR_UNSUPPORTED_NODE', unsupported);
  assertNodeSnapshotDisabled();
  loadIsolatedVm();
}

/** Throws ERR_NODE_SNAPSHOT instead of letting isolated-vm crash the process later. */
export function assertNodeSnapshotDisabled(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
): void {
  if (snapshotChecked) return;
  const flag = '--no-node-snapshot';
  if (!execArgv.includes(flag) && !nodeOptions.split(/\s+/).includes(flag)) {
    throw new CodeCellError('ERR_NODE_SNAPSHOT', NODE_SNAPSHOT_FIX);
  }
  snapshotChecked = true;
}
