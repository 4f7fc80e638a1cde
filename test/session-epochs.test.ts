// SessionEpochs, the host's record of fencing epochs per session key (SPEC §16): a newer epoch
// ends the older sessions of its key, an older one is refused, an equal one (a move) is let in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionEpochs } from '../host/server/session-epochs.js';

test(
  'a newer epoch fences the older sessions of its key; an older one is refused; equal ones share',
  { timeout: 10_000 },
  () => {
    const epochs = new SessionEpochs();
    const fenced: string[] = [];
    const fence = (name: string) => (newer: number) => fenced.push(`${name} by ${newer}`);
    const leaveA = epochs.enter('k', 1, fence('a'));
    epochs.enter('k', 1, fence('b')); // the same owner, moving its session here
    epochs.enter('other', 5, fence('c'));
    assert.deepEqual(fenced, []);
    epochs.enter('k', 2, fence('d'));
    assert.deepEqual(fenced, ['a by 2', 'b by 2']);
    assert.throws(() => epochs.enter('k', 1, fence('e')), {
      code: 'ERR_SESSION_MOVED',
      message: 'session k moved: its lease (epoch 1) was taken over (epoch 2 is on this host)',
    });
    // A fenced session that ends later changes nothing; the key remembers its newest epoch.
    leaveA();
    assert.throws(() => epochs.enter('k', 1, fence('f')), { code: 'ERR_SESSION_MOVED' });
    epochs.enter('k', 3, fence('g'));
    assert.deepEqual(fenced, ['a by 2', 'b by 2', 'd by 3']);
  },
);
