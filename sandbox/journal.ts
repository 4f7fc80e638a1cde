// What a cell consumes that is not a function of its source (SPEC §13): the clock and random
// numbers. With a journal, Math.random is a generator seeded by the host (so it needs no record:
// the seed is enough), and every clock reading (Date.now(), new Date(), Date(), and Intl's
// formatting of "now") is recorded and sent to the host in one `clock` message just before the
// cell's next message (or every 4 096 readings): the host has every reading that came before an
// effect it saw. Only while readings wait does the cell's send go through that step (`arm`): a
// cell that does not read the clock pays nothing. A run that replays a journal reads the recorded
// values first, in order, then the clock again.
// Loaded with the other sandbox files into the prelude's closure.

interface SandboxJournalConfig {
  /** Seeds Math.random (an unsigned 32-bit integer). */
  readonly seed: number;
  /** Clock readings of an earlier run of this cell, to be read again first (a replay). */
  readonly clock: readonly number[];
  /** A deterministic cell's clock: every reading is this (nothing is recorded). */
  readonly now?: number;
  /** The asks of its waits that took a delivery in the recorded run, in order (waits.ts). */
  readonly asks?: readonly number[];
}

/** Readings made and not yet sent; sent at once past this many (a cell reading in a loop). */
const CODECELL_CLOCK_BATCH = 4_096;

/** Installs the journal's clock and Math.random; returns the function that sends the waiting readings. */
function codecellInstallJournal(
  global: Record<string, unknown>,
  config: SandboxJournalConfig,
  sendClock: (values: string) => void,
  arm: () => void,
): () => void {
  const OriginalDate = Date;
  const originalNow = Date.now;
  const recorded = config.clock;
  let replayed = 0;
  const pending: number[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    sendClock(pending.join(','));
    pending.length = 0;
  };
  const fixed = config.now;
  const now = (): number => {
    if (fixed !== undefined) return fixed;
    if (replayed < recorded.length) return recorded[replayed++] as number;
    const value = originalNow();
    if (pending.length === 0) arm();
    pending[pending.length] = value;
    if (pending.length >= CODECELL_CLOCK_BATCH) flush();
    return value;
  };

  // Date: the same prototype (instanceof, subclasses and methods are unchanged); only the readings
  // of "now" go through the journal.
  const CellDate = function (this: unknown, ...args: unknown[]): unknown {
    if (new.target === undefined) return new OriginalDate(now()).toString();
    return Reflect.construct(OriginalDate, args.length === 0 ? [now()] : args, new.target);
  } as unknown as DateConstructor;
  for (const name of ['prototype', 'parse', 'UTC', 'length', 'name'] as const)
    Object.defineProperty(CellDate, name, Object.getOwnPropertyDescriptor(OriginalDate, name) as PropertyDescriptor);
  Object.defineProperty(CellDate, 'now', { value: () => now(), writable: true, configurable: true });
  Object.defineProperty(OriginalDate.prototype, 'constructor', {
    value: CellDate,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  Object.defineProperty(global, 'Date', { value: CellDate, writable: true, configurable: true, enumerable: false });

  // Intl formats "now" when given no date: it reads the journal's clock instead.
  const formatter = Intl.DateTimeFormat.prototype;
  const formatGetter = Object.getOwnPropertyDescriptor(formatter, 'format')?.get;
  if (formatGetter !== undefined)
    Object.defineProperty(formatter, 'format', {
      configurable: true,
      get(this: Intl.DateTimeFormat) {
        const format = formatGetter.call(this) as (date?: Date | number) => string;
        return (date?: Date | number) => format(date === undefined ? now() : date);
      },
    });
  const formatToParts = formatter.formatToParts;
  Object.defineProperty(formatter, 'formatToParts', {
    configurable: true,
    writable: true,
    value(this: Intl.DateTimeFormat, date?: Date | number) {
      return formatToParts.call(this, date === undefined ? now() : date);
    },
  });

  Object.defineProperty(Math, 'random', {
    value: codecellSeededRandom(config.seed),
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return flush;
}

/**
 * Math.random from a seed: sfc32 (a small, fast generator of 32-bit words with a 128-bit state),
 * two words per number for its 53 bits, as V8's own gives. Not for secrets (nor is V8's).
 */
function codecellSeededRandom(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // The first words of a fresh state are poorly mixed: skip them.
  for (let i = 0; i < 15; i++) next();
  return () => ((next() >>> 5) * 67_108_864 + (next() >>> 6)) / 9_007_199_254_740_992;
}
