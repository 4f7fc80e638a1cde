// The floor of a tool call over stdio for any isolated-vm host in Node: a child process with one
// isolate whose cell awaits `count` calls in a row; each call leaves the isolate by an ignored
// Callback, goes out as one length-prefixed frame, and its answer goes back in by a Reference
// call whose completion the host waits for (what a host needs to know when the isolate is idle
// and to hear a task's unhandled rejection), or by applyIgnored with `--untracked`. No codecell
// code runs in it (bench/peers/baselines.ts spawns it).
import { loadIsolatedVm } from '../../src/isolate/load.js';
import { LengthPrefixedFrames, writeFrame } from './frames.js';

const tracked = !process.argv.includes('--untracked');
const ivm = loadIsolatedVm();
const isolate = new ivm.Isolate({ memoryLimit: 128 });
const context = await isolate.createContext();
const out = (id: number, input: string): void =>
  writeFrame(process.stdout, `{"jsonrpc":"2.0","id":${id},"method":"tool/invoke","params":{"input":${input}}}`);
await context.global.set('send', new ivm.Callback(out, { ignored: true }));
const receive = (await context.eval(
  `const pending = new Map(); let seq = 0;
  globalThis.call = (input) => new Promise((resolve) => {
    pending.set(++seq, resolve);
    send(seq, JSON.stringify(input));
  });
  (id, json) => { const resolve = pending.get(id); pending.delete(id); resolve(JSON.parse(json)) }`,
  { reference: true },
)) as import('isolated-vm-6').Reference<(id: number, json: string) => void>;

const frames = new LengthPrefixedFrames((body) => {
  const message = JSON.parse(body) as { id?: number; result?: unknown; run?: number };
  if (message.run !== undefined) return void run(message.run);
  const args: [number, string] = [message.id ?? 0, JSON.stringify(message.result)];
  if (tracked) receive.apply(undefined, args).catch(() => {});
  else receive.applyIgnored(undefined, args);
});

async function run(count: number): Promise<void> {
  const loop = `(async () => { let n = 0; for (let i = 0; i < ${count}; i++) n += (await call({ i })).i; return n })()`;
  const sum = (await context.eval(loop, { promise: true })) as number;
  writeFrame(process.stdout, JSON.stringify({ done: sum }));
}

process.stdin.on('data', (chunk: Buffer) => frames.push(chunk));
process.stdin.on('end', () => isolate.dispose());
