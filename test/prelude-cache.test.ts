// The prelude's code cache (src/isolate/sandbox-source.ts): the first isolate starts codecell's
// warm-up, whose cache holds the functions cells commonly run; cells on it behave as before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preludeWarmed } from '../src/isolate/sandbox-source.js';
import { newRuntime, RecordingDelegate, texts } from './helpers.js';

test(
  'the first cell warms the prelude code cache; cells on the warm cache run as before',
  { timeout: 30_000 },
  async (t) => {
    assert.deepEqual(await preludeWarmed(), { first: 0, now: 0 }, 'nothing is warmed before an isolate exists');
    const delegate = new RecordingDelegate({
      lookup: async (call) => {
        const input = call.input as { fail?: boolean; n?: number };
        if (input.fail === true) throw new RangeError('no such entry');
        return { n: input.n ?? 0 };
      },
    });
    const runtime = newRuntime(t, delegate, { tools: [{ name: 'lookup' }] });
    assert.deepEqual(texts(await (await runtime.execute({ source: 'text("first")' })).initialEvent), ['first']);
    const sizes = await preludeWarmed();
    assert.ok(sizes.first > 0, 'the first isolate made a code cache');
    // The warm-up's cache holds the functions its cell ran; without it the cache stays the first.
    assert.ok(sizes.now > sizes.first * 2, `warm cache ${sizes.now} bytes, first ${sizes.first}`);
    const source = [
      'const { n } = await tools.lookup({ n: 2 });',
      'text(n); text({ n }); console.log("seen", [n], { twice: n * 2 }); notify("halfway");',
      'try { await tools.lookup({ fail: true }) } catch (error) { text(`${error.name}: ${error.message}`) }',
      'await new Promise((resolve) => setTimeout(resolve, 1));',
      'text("after the timer")',
    ].join('\n');
    for (let i = 0; i < 3; i++) {
      const event = await (await runtime.execute({ source })).initialEvent;
      assert.equal(event.kind, 'completed', JSON.stringify(event));
      assert.equal(event.error, undefined);
      assert.deepEqual(texts(event), [
        '2',
        '{"n":2}',
        'seen [ 2 ] { twice: 4 }',
        'RangeError: no such entry',
        'after the timer',
      ]);
    }
    assert.deepEqual(
      delegate.notifications.map((notification) => notification.text),
      ['halfway', 'halfway', 'halfway'],
    );
  },
);
