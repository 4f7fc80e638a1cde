// The sandboxes' pace (sandbox/prelude.ts, codecellPaced): isolated-vm hands every sandbox's
// messages to the main thread in one loop until none is left, so a hundred sessions whose tools
// answer at once kept that loop fed and Node's event loop did not turn for seconds: no timer, no
// limit, no disposal of ended cells' isolates (1 000 of them, ~3 GB, were still alive at the end).
// Once the process's sandboxes sent 256 messages since the loop last turned, each that sends waits
// for a turn.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isolatesInUseCount } from '../src/isolate/teardown.js';
import { ECHO, echo, run } from './cell-helpers.js';
import { newRuntime, texts } from './helpers.js';

test(
  'a hundred sessions of instant calls at once: the loop turns, and ended cells let their isolates go',
  { timeout: 120_000 },
  async (t) => {
    const sessions = Array.from({ length: 100 }, () => newRuntime(t, echo(), { tools: ECHO }));
    let turns = 0;
    let running = true;
    const turn = (): void => {
      turns++;
      if (running) setImmediate(turn);
    };
    setImmediate(turn);
    t.after(() => void (running = false));
    let most = 0;
    // 400 cells of 5 calls, 4 at a time per session: ~4 000 messages in all.
    await Promise.all(
      sessions.map(async (session) => {
        for (let cell = 0; cell < 4; cell++) {
          const event = await run(
            session,
            'let n = 0; for (let i = 0; i < 5; i++) n += (await tools.echo({ i })).i; text(n)',
          );
          assert.deepEqual(texts(event), ['10']);
          most = Math.max(most, isolatesInUseCount());
        }
      }),
    );
    running = false;
    // The build before: 1 or 2 turns, and all 400 isolates alive at the end.
    assert.ok(turns >= 4, `the loop turned ${turns} times`);
    assert.ok(most <= 300, `${most} isolates in use at most`);
  },
);
