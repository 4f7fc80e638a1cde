// SPEC §16's store contract, one for every store (stores.test.ts runs it for memoryStore and
// sqliteStore, postgres-store.test.ts for postgresStore): a lease per session whose epoch fences
// off a former owner (ERR_SESSION_MOVED), write-ahead records kept in order and all-or-none, the
// sessions listed with their summary, arguments checked, a closed store saying so.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { CodeCellStore } from '../src/store/store.js';
import { waitFor } from './helpers.js';

/** `store` with some of its methods in other hands (`name` says so): a store's faults, in a test. */
export function storeWith(store: CodeCellStore, name: string, changed: Partial<CodeCellStore>): CodeCellStore {
  return {
    name: `${name} ${store.name}`,
    create: (...args) => store.create(...args),
    adopt: (...args) => store.adopt(...args),
    renew: (...args) => store.renew(...args),
    append: (...args) => store.append(...args),
    rewrite: (...args) => store.rewrite(...args),
    records: (...args) => store.records(...args),
    sessions: () => store.sessions(),
    ...(store.now === undefined ? {} : { now: () => (store.now as () => Promise<number>)() }),
    remove: (...args) => store.remove(...args),
    close: () => store.close(),
    ...changed,
  };
}

export interface StoreKind {
  name: string;
  /** A new store; `shared`: a second store on the same data, where the kind has one. */
  open(t: TestContext): { store: CodeCellStore; again?: () => CodeCellStore };
}

/** Until the lease (of `ms`) has run out by the store's clock. */
const pastLease = async (ms: number): Promise<void> => {
  const until = Date.now() + ms + 1;
  await waitFor(() => Date.now() > until);
};

/** The contract's tests for one kind of store. */
export function storeContract(kind: StoreKind): void {
  describe(`${kind.name}: the store contract`, { timeout: 30_000 }, () => {
    test('a session: created under a lease, records in order, listed with its summary and metadata', async (t) => {
      const { store } = kind.open(t);
      const lease = await store.create('chat-1', 'agent-a', 10_000, { user: 'ada' });
      assert.deepEqual({ ...lease, expiresAt: 0 }, { key: 'chat-1', owner: 'agent-a', epoch: 1, expiresAt: 0 });
      assert.ok(lease.expiresAt > Date.now());
      await assert.rejects(store.create('chat-1', 'agent-b', 10_000, null), {
        code: 'ERR_INVALID_REQUEST',
        message:
          'session chat-1 is in the store already: if its owner is gone, SessionRuntime.recover (or a ' +
          "HostClient's recover) adopts it once its lease ends",
      });
      await store.append('chat-1', 1, ['{"a":1}', '{"b":2}']);
      await store.append('chat-1', 1, ['{"c":3}'], { openCells: 2, pausedCells: 1 });
      assert.deepEqual(await store.records('chat-1'), ['{"a":1}', '{"b":2}', '{"c":3}']);
      assert.equal(await store.records('nobody'), undefined);
      const [listed, ...none] = await store.sessions();
      assert.deepEqual(none, []);
      assert.deepEqual(listed, {
        key: 'chat-1',
        owner: 'agent-a',
        leaseExpiresAt: lease.expiresAt,
        openCells: 2,
        pausedCells: 1,
        metadata: { user: 'ada' },
      });
      await store.rewrite('chat-1', 1, ['{"kept":true}']);
      assert.deepEqual(await store.records('chat-1'), ['{"kept":true}']);
      await store.append('chat-1', 1, ['{"d":4}']);
      assert.deepEqual(await store.records('chat-1'), ['{"kept":true}', '{"d":4}']);
      await store.remove('chat-1', 1);
      assert.equal(await store.records('chat-1'), undefined);
      assert.deepEqual(await store.sessions(), []);
    });

    test('a lease that ran out is adopted with the next epoch: the former owner is fenced off', async (t) => {
      const { store, again } = kind.open(t);
      const other = again?.() ?? store; // a second connection to the same file, where there is one
      await store.create('s', 'agent-a', 50, null);
      assert.equal(await other.adopt('s', 'agent-b', 10_000), undefined, 'not while the lease holds');
      assert.deepEqual(await store.renew('agent-a', [{ key: 's', epoch: 1 }], 50), []);
      await pastLease(50);
      const adopted = await other.adopt('s', 'agent-b', 10_000);
      assert.equal(adopted?.epoch, 2);
      assert.equal(adopted?.owner, 'agent-b');
      assert.equal(await other.adopt('nobody', 'agent-b', 10_000), undefined);
      // The former owner wakes up: nothing it writes lands, and it learns why.
      await assert.rejects(store.append('s', 1, ['{"late":true}']), {
        code: 'ERR_SESSION_MOVED',
        message: 'session s moved: another process adopted it (epoch 2; this one holds 1)',
      });
      await assert.rejects(store.remove('s', 1), { code: 'ERR_SESSION_MOVED' });
      assert.deepEqual(await store.renew('agent-a', [{ key: 's', epoch: 1 }], 10_000), ['s']);
      assert.deepEqual(await other.renew('agent-b', [{ key: 's', epoch: 2 }], 10_000), []);
      await other.append('s', 2, ['{"mine":true}']);
      assert.deepEqual(await store.records('s'), ['{"mine":true}']);
      assert.equal((await store.sessions())[0]?.owner, 'agent-b');
      await other.remove('s', 2);
      await assert.rejects(other.append('s', 2, ['{}']), {
        code: 'ERR_SESSION_MOVED',
        message: 'session s is no longer in the store',
      });
    });

    test('a renewal: each lease named lasts its length from then; others keep theirs; a release ends one', async (t) => {
      const { store, again } = kind.open(t);
      const other = again?.() ?? store;
      const at = (...keys: string[]) => keys.map((key) => ({ key, epoch: 1 }));
      for (const key of ['a', 'b', 'c', 'd']) await store.create(key, 'agent-a', 10_000, null);
      assert.deepEqual(await store.renew('agent-a', at('a', 'b', 'c', 'd'), 10_000), []);
      // A release: a lease of 1 ms runs out at once; the owner's other leases hold.
      assert.deepEqual(await store.renew('agent-a', at('b'), 1), []);
      await pastLease(1);
      assert.equal((await other.adopt('b', 'agent-b', 10_000))?.epoch, 2);
      assert.equal(await other.adopt('a', 'agent-b', 10_000), undefined);
      // A shorter lease for c: it runs out then, though the owner renews its others meanwhile.
      const renewedAt = Date.now();
      assert.deepEqual(await store.renew('agent-a', at('c'), 100), []);
      assert.deepEqual(await store.renew('agent-a', at('a', 'd'), 10_000), []);
      await pastLease(100);
      assert.equal((await other.adopt('c', 'agent-b', 10_000))?.epoch, 2);
      for (const key of ['a', 'd']) assert.equal(await other.adopt(key, 'agent-b', 10_000), undefined);
      // Those another owner took are named, in the order asked.
      assert.deepEqual(await store.renew('agent-a', at('d', 'c', 'a', 'b'), 10_000), ['c', 'b']);
      const listed = new Map((await store.sessions()).map((info) => [info.key, info]));
      assert.deepEqual(
        ['a', 'b', 'c', 'd'].map((key) => listed.get(key)?.owner),
        ['agent-a', 'agent-b', 'agent-b', 'agent-a'],
      );
      for (const key of ['a', 'd']) assert.ok((listed.get(key)?.leaseExpiresAt ?? 0) >= renewedAt + 10_000);
    });

    test('appends made at once: a fenced-off writer is refused, the others land, each in its order', async (t) => {
      const { store, again } = kind.open(t);
      const other = again?.() ?? store;
      for (const key of ['a', 'b', 'c']) await store.create(key, 'agent-1', 1, null);
      await pastLease(1);
      assert.equal((await other.adopt('b', 'agent-2', 60_000))?.epoch, 2);
      // Made in one turn (a store may commit them together). 'b' at epoch 1 is fenced off, also
      // when its successor's append (epoch 2) goes in the same group, before and after it.
      const writes = await Promise.allSettled([
        store.append('c', 1, ['c1', 'c2', 'c3']),
        store.append('b', 2, ['b2 first']),
        store.append('a', 1, ['a1', 'a2'], { openCells: 2, pausedCells: 0 }),
        store.append('b', 1, ['b1 stale']),
        store.append('a', 1, ['a3'], { openCells: 1, pausedCells: 1 }),
        store.append('b', 2, ['b2 then']),
      ]);
      assert.deepEqual(
        writes.map((write) => write.status),
        ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
      );
      assert.match(String((writes[3] as PromiseRejectedResult).reason), /session b moved/);
      assert.deepEqual(
        [await store.records('a'), await store.records('b'), await store.records('c')],
        [
          ['a1', 'a2', 'a3'],
          ['b2 first', 'b2 then'],
          ['c1', 'c2', 'c3'],
        ],
      );
      const a = (await store.sessions()).find((each) => each.key === 'a');
      assert.deepEqual([a?.openCells, a?.pausedCells], [1, 1]);
    });

    test("a key whose session ended: created again, it goes on from the ended one's epoch and cell id", async (t) => {
      const { store } = kind.open(t);
      const first = await store.create('again', 'agent-a', 60_000, { n: 1 });
      await store.append('again', 1, ['{"old":1}']);
      await store.remove('again', 1, 8);
      assert.equal(await store.records('again'), undefined);
      assert.deepEqual(await store.sessions(), []);
      const second = await store.create('again', 'agent-b', 60_000, { n: 2 });
      assert.deepEqual([first.epoch, first.nextCellId, second.epoch, second.nextCellId], [1, undefined, 2, 8]);
      assert.deepEqual(await store.records('again'), []);
      // The ended lifetime's epoch can write nothing into the new one.
      await assert.rejects(store.append('again', 1, ['{"stale":1}']), { code: 'ERR_SESSION_MOVED' });
      assert.deepEqual(
        (await store.sessions()).map((info) => info.metadata),
        [{ n: 2 }],
      );
      // Created a third time, it goes on from what that one said.
      await store.remove('again', 2, 9);
      assert.deepEqual([(await store.create('again', 'agent-c', 60_000, null)).nextCellId], [9]);
    });

    test('a key whose session ended: an adopter of its next one is told the id too; ids never go back', async (t) => {
      const { store } = kind.open(t);
      await store.create('ids', 'agent-a', 60_000, null);
      await store.remove('ids', 1, 12);
      // Its creator wrote nothing (stopped at once): whoever adopts it must not begin again at cell 1.
      await store.create('ids', 'agent-b', 1, null);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const adopted = await store.adopt('ids', 'agent-c', 60_000);
      assert.deepEqual([adopted?.epoch, adopted?.nextCellId], [3, 12]);
      // Removed saying a lower id (it made no cell), the key keeps the higher one.
      await store.remove('ids', 3, 1);
      assert.deepEqual([(await store.create('ids', 'agent-d', 60_000, null)).nextCellId], [12]);
      // A key that never ended: nothing to say.
      await store.create('fresh', 'agent-a', 1, null);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal((await store.adopt('fresh', 'agent-b', 60_000))?.nextCellId, undefined);
    });

    test('bad arguments are refused with what is wrong; a closed store says so', async (t) => {
      const { store } = kind.open(t);
      await assert.rejects(store.create('two words', 'a', 1_000, null), {
        code: 'ERR_INVALID_REQUEST',
        message: /key must be 1-200 letters, digits or _ \. : \/ @ -/,
      });
      await assert.rejects(store.create('k', '', 1_000, null), {
        message: 'owner must be a string of 1-200 characters',
      });
      await assert.rejects(store.create('k', 'a', 0, null), {
        message: 'leaseMs must be an integer from 1 to 86400000',
      });
      await assert.rejects(store.create('k', 'a', 1_000, 10n as never), {
        message: 'metadata must be a JSON value: a bigint is not a JSON value',
      });
      await assert.rejects(store.create('k', 'a', 1_000, { user: 'u', onDone: () => {} } as never), {
        message: 'metadata must be a JSON value: a function is not a JSON value',
      });
      await store.create('k', 'a', 1_000, null);
      await assert.rejects(store.append('k', 0, []), { message: 'epoch must be an integer >= 1' });
      await assert.rejects(store.append('k', 1, [{}] as never), {
        message: 'records must be an array of strings (JSON texts)',
      });
      await assert.rejects(store.append('k', 1, [], { openCells: 1 } as never), {
        message: 'summary must be { openCells, pausedCells } (integers)',
      });
      assert.deepEqual(await store.records('k'), [], 'nothing of a refused write landed');
      await store.close();
      await assert.rejects(store.sessions(), { code: 'ERR_SHUTTING_DOWN', message: /store is closed/ });
    });
  });
}
