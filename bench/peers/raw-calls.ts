// Raw isolated-vm calls out of an isolate, with no codecell code: `count` sequential calls of a
// host function that echoes its argument, awaited in the isolate. The floor of an in-process tool
// round trip, by each way isolated-vm offers (bench/instructions.ts counts them).
import { loadIsolatedVm } from '../../src/isolate/load.js';
import { check } from '../common.js';

export const RAW_WAYS = ['raw apply', 'raw callback', 'raw applySyncPromise', 'raw cell'] as const;
export type RawWay = (typeof RAW_WAYS)[number];

const LOOPS: Record<Exclude<RawWay, 'raw cell'>, (count: number) => string> = {
  'raw apply': (count) =>
    `(async () => { let n = 0; for (let i = 0; i < ${count}; i++) ` +
    `n += await host.apply(undefined, [i], { result: { promise: true } }); return n })()`,
  'raw callback': (count) =>
    `(async () => { let n = 0; for (let i = 0; i < ${count}; i++) n += await hostCallback(i); return n })()`,
  'raw applySyncPromise': (count) =>
    `(() => { let n = 0; for (let i = 0; i < ${count}; i++) n += host.applySyncPromise(undefined, [i]); return n })()`,
};

/** `count` raw cells: a new isolate and context, `text(1)`'s like (a string out), then disposal. */
async function rawCells(count: number): Promise<void> {
  const ivm = loadIsolatedVm();
  for (let i = 0; i < count; i++) {
    const isolate = new ivm.Isolate();
    const context = await isolate.createContext();
    check((await context.eval('String(1)')) === '1', 'a raw cell');
    context.release();
    isolate.dispose();
  }
}

export async function rawCalls(way: RawWay, count: number): Promise<void> {
  if (way === 'raw cell') return rawCells(count);
  const ivm = loadIsolatedVm();
  const isolate = new ivm.Isolate();
  const context = await isolate.createContext();
  await context.global.set('host', new ivm.Reference(async (value: number) => value));
  await context.global.set('hostCallback', new ivm.Callback((value: number) => value, { async: true }));
  const sum = (await context.eval(LOOPS[way](count), { promise: true })) as number;
  check(sum === (count * (count - 1)) / 2, `${way}: ${count} calls summed to ${sum}`);
  context.release();
  isolate.dispose();
}
