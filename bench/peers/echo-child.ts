// The bare pipe floor's other end: answers every frame with the input it carried, in a frame of
// the same framing (bench/peers/baselines.ts spawns it).
import { LengthPrefixedFrames, writeFrame } from './frames.js';

const frames = new LengthPrefixedFrames((body) => {
  const request = JSON.parse(body) as { id: number; params: { input: unknown } };
  writeFrame(process.stdout, JSON.stringify({ id: request.id, result: request.params.input }));
});
process.stdin.on('data', (chunk: Buffer) => frames.push(chunk));
