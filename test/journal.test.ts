// The cell journal (SPEC §13): what goes in comes out the same — one by one, in a snapshot and
// restored from one — a snapshot's call id the sandbox would not make is refused, and past
// journalMaxBytes the journal lets go of everything. A host mirrors it to its client by reference:
// what the client has (its tool/invoke, its answers) is not sent back.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CellJournal } from '../src/cell/journal.js';
import { rawHost } from './wire.js';

/** Inputs of many lengths (the empty one, multi-byte ones). */
const TEXTS = Array.from({ length: 300 }, (_, i) => (i % 7 === 0 ? '' : `{"i":${i},"s":"${'é✓'.repeat(i % 5)}"}`));

describe('the cell journal', { timeout: 30_000 }, () => {
  test('a journal of hundreds of calls round-trips through its snapshot', () => {
    const journal = new CellJournal(1 << 20, 7);
    TEXTS.forEach((text, i) => {
      journal.recordCall(`tool-${i + 1}`, i % 3, text);
      if (i % 10 === 9) journal.recordTimer(i);
      journal.recordSettle(`tool-${i + 1}`, i % 4 !== 0, `{"r":${i}}`, i % 4 === 0 ? 'TypeError' : '');
    });
    assert.equal(journal.callCount, 300);
    assert.equal(journal.deliveryCount, 330);
    assert.deepEqual(journal.call('tool-151'), {
      callId: 'tool-151',
      index: 150 % 3,
      inputJson: TEXTS[150],
      position: 150,
    });
    assert.deepEqual(journal.delivery(0), {
      kind: 'settle',
      callId: 'tool-1',
      ok: false,
      payload: '{"r":0}',
      errorKind: 'TypeError',
    });
    assert.deepEqual(journal.delivery(9), { kind: 'timer', id: 9 });
    assert.deepEqual(journal.delivery(329), {
      kind: 'settle',
      callId: 'tool-300',
      ok: true,
      payload: '{"r":299}',
      errorKind: '',
    });
    assert.equal(journal.outcomeOf('tool-2'), 'returned');
    assert.equal(journal.outcomeOf('tool-5'), 'threw');
    assert.equal(journal.outcomeOf('tool-301'), 'pending');
    const snapshot = JSON.parse(JSON.stringify(journal)) as ReturnType<CellJournal['toJSON']>;
    assert.equal(snapshot.calls[299]?.inputJson, TEXTS[299]);
    const restored = CellJournal.restore(snapshot, 1 << 20);
    assert.deepEqual(restored.toJSON(), journal.toJSON());
    assert.deepEqual(restored.toolCalls((index) => ({ name: `t${index}` })).slice(0, 2), [
      { callId: 'tool-1', tool: { name: 't0' }, input: undefined, outcome: 'threw' },
      { callId: 'tool-2', tool: { name: 't1' }, input: { i: 1, s: 'é✓' }, outcome: 'returned' },
    ]);
  });

  test('a snapshot’s call ids the sandbox would not make, and outcomes of no call, are refused', () => {
    const base = { seed: 1, clock: [], deliveries: [], outputs: 0, notifications: 0 };
    for (const callId of ['tool-', 'x-1', 'tool-1 ']) {
      assert.throws(
        () => CellJournal.restore({ ...base, calls: [{ callId, index: 0, inputJson: '{}' }] }, 1 << 20),
        /callId tool-N/,
      );
    }
    // An outcome must be of a call the journal holds (a replay would wait for it forever).
    const orphan = { kind: 'settle', callId: 'tool-9', ok: true, payload: '1', errorKind: '' };
    assert.throws(
      () =>
        CellJournal.restore(
          { ...base, calls: [{ callId: 'tool-1', index: 0, inputJson: '{}' }], deliveries: [orphan] },
          1 << 20,
        ),
      /settles tool-9, which journal.calls does not hold/,
    );
    const journal = new CellJournal(1 << 20, 1);
    journal.recordCall('tool-1', 0, '{}');
    assert.equal(journal.call('tool-2'), undefined);
    assert.equal(journal.call('tool-1')?.position, 0);
  });

  test('past journalMaxBytes it lets go of everything and stays undurable', () => {
    const journal = new CellJournal(2_000, 1);
    for (let i = 1; i <= 100; i++) journal.recordCall(`tool-${i}`, 0, '{"padding":"xxxxxxxxxxxxxxxxxxxx"}');
    assert.equal(journal.durable, false);
    assert.equal(journal.callCount, 0);
    assert.equal(journal.call('tool-1'), undefined);
    assert.deepEqual(journal.toJSON().calls, []);
  });
});

describe("a host's mirror on the wire", { timeout: 30_000 }, () => {
  test('what the client has goes by reference: no call of its own tool/invoke listed, its answers named', async (t) => {
    const raw = await rawHost(t);
    const created = await raw.call('session/create', {
      tools: [{ name: 'save' }],
      limits: { memoryMb: 64 },
      mirror: true,
    });
    const { sessionId, limits } = created.result as { sessionId: string; limits: Record<string, number> };
    assert.equal(limits.memoryMb, 64, "a mirrored session's answer says its limits");
    await raw.call('cell/execute', {
      sessionId,
      request: { source: 'for (let i = 1; i <= 3; i++) await tools.save({ i }); text("saved")' },
    });
    for (let n = 1; n <= 3; n++) {
      const invoke = await raw.log.next(
        (m) => m.method === 'tool/invoke' && (m.params as { call: { callId: string } }).call.callId === `tool-${n}`,
      );
      const { call, journal } = invoke.params as { call: { input: unknown }; journal?: unknown };
      assert.deepEqual(call.input, { i: n });
      // tool-1 goes alone (its own entry is the tool/invoke); each later one names the answer
      // before it by its call's id, and no counts (the client counts what reached it).
      assert.deepEqual(journal, n === 1 ? undefined : { update: { deliveries: [`tool-${n - 1}`] } });
      raw.reply(invoke.id as number, { value: { saved: n } });
    }
    const ended = await raw.log.next((m) => m.method === 'cell/initialEvent');
    assert.equal((ended.params as { event: { kind: string } }).event.kind, 'completed');
    // The journal's one message of its own was its start: everything else rode on the calls.
    const journals = raw.log.messages.filter((m) => m.method === 'cell/journal');
    assert.deepEqual(
      journals.map((m) => Object.keys(m.params as object)),
      [['sessionId', 'cellId', 'start']],
    );
    // Its tools and limits are the session's: named by reference, not sent.
    const { start } = journals[0]?.params as { start: Record<string, unknown> };
    assert.deepEqual(Object.keys(start).sort(), ['code', 'filename', 'seed', 'storedAt', 'toolCallId']);
    // A cell with limits of its own (and tools) has them in its start.
    await raw.call('cell/execute', {
      sessionId,
      request: { source: 'text(2)', limits: { memoryMb: 32 }, tools: [{ name: 'load' }] },
    });
    const own = await raw.log.next(
      (m) => m.method === 'cell/journal' && (m.params as { cellId: string }).cellId === '2',
    );
    const ownStart = (own.params as { start: { limits: Record<string, number>; tools: unknown } }).start;
    assert.equal(ownStart.limits.memoryMb, 32);
    assert.deepEqual(ownStart.tools, [{ name: 'load' }]);
  });
});
