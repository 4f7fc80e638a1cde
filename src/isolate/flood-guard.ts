// isolated-vm delivers a cell's messages to Node's main thread in one loop until none is left,
// so a cell that never stops sending would starve every timer, limit and other session. The
// guard notices a run of messages that kept the main thread busy for `limitMs` without the event
// loop turning once — and that is a run of many messages: on a starved machine one turn of the
// loop can take that long while a cell sends only a few (a tool call, another after its result).
// A run ends when the process's turn count moves (host-words.ts: one immediate a turn for every
// cell, not one per cell).
import { armTurn, hostWords, TURNS } from './host-words.js';

export class FloodGuard {
  readonly #limitMs: number;
  readonly #minMessages: number;
  #runStart = 0;
  /** The turn the current run began in. */
  #runTurn: number | undefined;
  #messages = 0;
  /** Called on every message of a flood (the caller ends the cell; the messages are dropped). */
  onFlood: () => void = () => {};

  constructor(limitMs: number, minMessages = 1_000) {
    this.#limitMs = limitMs;
    this.#minMessages = minMessages;
  }

  /** Records one message; true when it belongs to a flood. */
  flooding(): boolean {
    armTurn();
    const turn = Atomics.load(hostWords, TURNS);
    if (turn !== this.#runTurn) {
      this.#runTurn = turn;
      this.#runStart = performance.now();
      this.#messages = 0;
      return false;
    }
    // The clock is read again only once a run is long enough to be a flood.
    if (++this.#messages < this.#minMessages || performance.now() - this.#runStart < this.#limitMs) return false;
    this.onFlood();
    return true;
  }
}
