// The floor of any isolated-vm code-mode host in Node: a child process that runs each cell it is
// sent in a fresh isolate and context (as codecell and the Codex host do), disposed when the cell
// ends. The cell's `tools.echo(input)` leaves the isolate by an ignored Callback as one
// length-prefixed frame; its answer goes back in by a Reference call whose completion the host
// waits for (what a host needs to know when the isolate is idle and to hear a task's unhandled
// rejection), or by applyIgnored with `--untracked`. `text(value)` collects the cell's output.
// No codecell code runs in it (bench/peers/baselines.ts spawns it).
import type IsolatedVm from 'isolated-vm-6';
import { loadIsolatedVm } from '../../src/isolate/load.js';
import { LengthPrefixedFrames, writeFrame } from './frames.js';

type Receive = IsolatedVm.Reference<(id: number, json: string) => void>;

const tracked = !process.argv.includes('--untracked');
const ivm = loadIsolatedVm();
/** Each running cell's way in: its answers go to the call `id` of the cell's own pending table. */
const cells = new Map<number, Receive>();

const PRELUDE = `const pending = new Map(); let seq = 0; globalThis.output = [];
  globalThis.tools = { echo: (input) => new Promise((resolve) => {
    pending.set(++seq, resolve);
    send(seq, JSON.stringify(input));
  }) };
  globalThis.text = (value) => void output.push(String(value));
  (id, json) => { const resolve = pending.get(id); pending.delete(id); resolve(JSON.parse(json)) }`;

async function runCell(cell: number, source: string): Promise<void> {
  const isolate = new ivm.Isolate({ memoryLimit: 128 });
  let outcome: { text: string[]; error?: string } = { text: [] };
  try {
    const context = await isolate.createContext();
    const send = (id: number, input: string): void =>
      writeFrame(process.stdout, `{"cell":${cell},"id":${id},"input":${input}}`);
    await context.global.set('send', new ivm.Callback(send, { ignored: true }));
    cells.set(cell, (await context.eval(PRELUDE, { reference: true })) as Receive);
    const run = `(async () => {\n${source}\n})().then(() => JSON.stringify(output))`;
    outcome.text = JSON.parse((await context.eval(run, { promise: true })) as string) as string[];
  } catch (error) {
    outcome = { text: [], error: String(error) };
  } finally {
    cells.get(cell)?.release();
    cells.delete(cell);
    isolate.dispose();
  }
  writeFrame(process.stdout, JSON.stringify({ cell, ...outcome }));
}

const frames = new LengthPrefixedFrames((body) => {
  const message = JSON.parse(body) as { cell: number; id?: number; result?: unknown; source?: string };
  if (message.source !== undefined) return void runCell(message.cell, message.source);
  const receive = cells.get(message.cell);
  const args: [number, string] = [message.id ?? 0, JSON.stringify(message.result)];
  if (receive === undefined) return;
  if (tracked) receive.apply(undefined, args).catch(() => {});
  else receive.applyIgnored(undefined, args);
});

process.stdin.on('data', (chunk: Buffer) => frames.push(chunk));
