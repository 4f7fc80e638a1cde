// The setup of a cell's module in its isolate: the sandbox configured (tools, stored values,
// limits, as data), the wrapped source compiled as an ES module and instantiated. A small cell is
// set up on the calling thread under the isolate's lock (the isolate's own thread is idle then):
// three round trips to that thread and back cost more than the work. A large one, whose
// compilation may take a while, is set up on the isolate's thread.
import type IsolatedVm from 'isolated-vm-6';
import { explainCompileError } from './errors.js';
import type { SandboxReceive } from './sandbox-protocol.js';
import { wrapCell } from './sandbox-source.js';

/**
 * Cells whose source and configuration are at most this long are set up synchronously.
 * @internal
 */
export const INLINE_SETUP_CHARS = 64 * 1024;

/**
 * What the setup needs of the cell's isolate; `inside` tracks an asynchronous step until it settles.
 * @internal
 */
export interface SetupTarget {
  readonly isolate: IsolatedVm.Isolate;
  readonly context: IsolatedVm.Context;
  readonly receive: IsolatedVm.Reference<SandboxReceive>;
  inside<T>(task: Promise<T>): Promise<T>;
}

/**
 * The instantiated module, or the compile error as the cell reports it. Isolate failures throw.
 * @internal
 */
export async function setUpModule(
  target: SetupTarget,
  source: string,
  filename: string,
  configText: string,
): Promise<{ module: IsolatedVm.Module } | { error: string }> {
  const { isolate, context, receive, inside } = target;
  const inline = source.length + configText.length <= INLINE_SETUP_CHARS;
  if (inline) receive.applySync(undefined, ['configure', configText]);
  else await inside(receive.apply(undefined, ['configure', configText]));
  let module: IsolatedVm.Module;
  try {
    const options = { filename, lineOffset: -1 };
    module = inline
      ? isolate.compileModuleSync(wrapCell(source), options)
      : await inside(isolate.compileModule(wrapCell(source), options));
  } catch (error) {
    return { error: await explainCompileError(isolate, source, filename, error) };
  }
  const refuseImport = (specifier: string): never => {
    throw new Error(`Unsupported import in cell: ${specifier}`);
  };
  try {
    if (inline) module.instantiateSync(context, refuseImport);
    else await inside(module.instantiate(context, refuseImport));
  } catch (error) {
    module.release();
    throw error;
  }
  return { module };
}
