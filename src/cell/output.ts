// A cell's output items not yet drained by an observation, and its byte budget
// (maxOutputBytes counts everything the cell ever emitted, drained or not).
import { byteLength } from '../json.js';
import type { OutputItem } from '../types.js';

export class OutputBuffer {
  readonly #items: OutputItem[] = [];
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Adds the item if it fits the budget; false (nothing added) if it would exceed it. */
  add(item: OutputItem): boolean {
    const size = item.type === 'text' ? byteLength(item.text) : byteLength(item.imageUrl);
    if (this.#bytes + size > this.#maxBytes) return false;
    this.#bytes += size;
    this.#items.push(item);
    return true;
  }

  /** Appends a text the host writes itself (a warning), outside the cell's budget. */
  note(text: string): void {
    this.#items.push({ type: 'text', text });
  }

  /** Takes every buffered item. */
  drain(): OutputItem[] {
    return this.#items.splice(0, this.#items.length);
  }
}
