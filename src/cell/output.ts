// A cell's output items not yet drained by an observation, and its budgets: maxOutputBytes counts
// everything the cell ever emitted, drained or not, and so does MAX_OUTPUT_ITEMS (empty items weigh
// nothing in bytes, but each is held); maxResultBytes bounds what one observation (one exec or wait
// result) takes — the rest is cut, with a note saying how much.
import { byteLength } from '../json.js';
import type { OutputItem } from '../types.js';

/** Output items one cell may emit in all (1 048 576): past it the cell ends, reason outputLimit. */
export const MAX_OUTPUT_ITEMS = 1 << 20;

export class OutputBuffer {
  readonly #items: OutputItem[] = [];
  /** Items ever added. */
  #count = 0;
  readonly #maxBytes: number;
  readonly #maxResultBytes: number;
  #bytes = 0;
  /** Bytes of the items buffered now. */
  #pendingBytes = 0;

  constructor(maxBytes: number, maxResultBytes = Number.POSITIVE_INFINITY) {
    this.#maxBytes = maxBytes;
    this.#maxResultBytes = maxResultBytes;
  }

  /** Adds the item if it fits the budgets; false (nothing added) if it would exceed one. */
  add(item: OutputItem): boolean {
    const size = sizeOf(item);
    if (this.#bytes + size > this.#maxBytes || this.#count === MAX_OUTPUT_ITEMS) return false;
    this.#count++;
    this.#bytes += size;
    this.#pendingBytes += size;
    this.#items.push(item);
    return true;
  }

  /** Appends a text the host writes itself (a warning), outside the cell's budget. */
  note(text: string): void {
    this.#pendingBytes += byteLength(text);
    this.#items.push({ type: 'text', text });
  }

  /** Takes every buffered item, within maxResultBytes (the first ones; the rest is cut, and a note says so). */
  drain(): OutputItem[] {
    const items = this.#items.splice(0, this.#items.length);
    const total = this.#pendingBytes;
    this.#pendingBytes = 0;
    return total <= this.#maxResultBytes ? items : cut(items, total, this.#maxResultBytes);
  }
}

const sizeOf = (item: OutputItem): number => byteLength(item.type === 'text' ? item.text : item.imageUrl);

/** The items within `max` bytes: whole ones first, then the head of a text; a note says what was cut. */
function cut(items: OutputItem[], total: number, max: number): OutputItem[] {
  const kept: OutputItem[] = [];
  let used = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (used + size <= max) {
      kept.push(item);
      used += size;
    } else {
      if (item.type === 'text' && used < max) kept.push({ type: 'text', text: utf8Head(item.text, max - used) });
      break;
    }
  }
  const left = total - kept.reduce((sum, item) => sum + sizeOf(item), 0);
  kept.push({
    type: 'text',
    text: `[output cut: ${left} of ${total} bytes left out of this result (maxResultBytes is ${max})]`,
  });
  return kept;
}

/** The longest start of `text` within `bytes` UTF-8 bytes, never splitting a character. */
function utf8Head(text: string, bytes: number): string {
  const encoded = Buffer.from(text, 'utf8');
  let end = Math.min(bytes, encoded.length);
  while (end > 0 && ((encoded[end] ?? 0) & 0xc0) === 0x80) end--;
  return encoded.subarray(0, end).toString('utf8');
}
