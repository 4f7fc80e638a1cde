// The isolate seam's error table, driven by the errors the installed isolated-vm really throws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ISOLATE_ERROR_TABLE, translateIsolateError } from '../src/isolate/errors.js';
import { loadIsolatedVm } from '../src/isolate/load.js';
import type { CodeCellErrorCode } from '../src/index.js';

const ivm = loadIsolatedVm();

async function thrownBy(action: () => Promise<unknown> | unknown): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  throw new Error('expected the action to throw');
}

/** Each way isolated-vm fails, produced for real, and the code it must translate to. */
const CASES: { name: string; code: CodeCellErrorCode | undefined; produce: () => Promise<unknown> }[] = [
  {
    name: 'an isolate over its memory limit',
    code: 'ERR_MEMORY_LIMIT',
    produce: async () => {
      const isolate = new ivm.Isolate({ memoryLimit: 16 });
      const context = await isolate.createContext();
      return thrownBy(() => context.eval('const a = []; for (;;) a.push({ n: a.length })'));
    },
  },
  {
    name: 'an isolate disposed while it runs',
    code: 'ERR_ISOLATE_DISPOSED',
    produce: async () => {
      const isolate = new ivm.Isolate({ memoryLimit: 16 });
      const context = await isolate.createContext();
      const running = thrownBy(() => context.eval('for (;;) {}'));
      setTimeout(() => isolate.dispose(), 20);
      return running;
    },
  },
  {
    name: 'an isolate used after it was disposed',
    code: 'ERR_ISOLATE_DISPOSED',
    produce: async () => {
      const isolate = new ivm.Isolate({ memoryLimit: 16 });
      isolate.dispose();
      return thrownBy(() => isolate.createContext());
    },
  },
  {
    name: 'a released reference',
    code: 'ERR_ISOLATE_DISPOSED',
    produce: async () => {
      const reference = new ivm.Reference({ a: 1 });
      reference.release();
      return thrownBy(() => reference.deref());
    },
  },
  {
    name: 'an error thrown by cell code',
    code: undefined,
    produce: async () => {
      const isolate = new ivm.Isolate({ memoryLimit: 16 });
      const context = await isolate.createContext();
      const error = await thrownBy(() => context.eval('throw new RangeError("the cell failed")'));
      isolate.dispose();
      return error;
    },
  },
  { name: 'a thrown string', code: undefined, produce: async () => 'Isolate is disposed' },
];

for (const { name, code, produce } of CASES) {
  test(`translateIsolateError: ${name} → ${code ?? 'not translated'}`, async () => {
    const error = await produce();
    const translated = translateIsolateError(error);
    assert.equal(translated?.code, code, `${String((error as Error)?.message ?? error)}`);
    if (translated !== undefined) {
      assert.equal(translated.message, (error as Error).message);
      assert.equal(translated.cause, error);
    }
  });
}

test('every row of the table is reached by a real isolated-vm error above', async () => {
  const messages = await Promise.all(CASES.map(async ({ produce }) => String(((await produce()) as Error)?.message)));
  for (const row of ISOLATE_ERROR_TABLE) {
    assert.ok(
      messages.some((message) => row.pattern.test(message)),
      `no real error matches ${row.pattern}`,
    );
  }
});
