// Whether a spawned codecell-host keeps this process alive: only while a request to it is
// outstanding or a cell runs there. An idle HostClient that was never closed — sessions open, no
// cell running — lets Node exit (the host then sees its input end and exits too).
import type { ChildProcess } from 'node:child_process';

/** How often whether cells run is counted again (not at every event of every session). */
const RECOUNT_MS = 1_000;

/** The link's load as the hold needs it: requests outstanding, sessions, and whether a cell runs. */
export type HostLoadNow = () => { outstanding: number; sessions: number; running: () => boolean };

export class HostHold {
  readonly #child: ChildProcess;
  readonly #busy: HostLoadNow;
  readonly #recount: NodeJS.Timeout;
  #held = true;

  constructor(child: ChildProcess, busy: HostLoadNow) {
    this.#child = child;
    this.#busy = busy;
    this.#recount = setInterval(() => this.update(true), RECOUNT_MS).unref();
  }

  /**
   * Called as requests come and go (and sessions come and end): what runs is counted when the host
   * is not held now, and while it is, every second (`recount`) — not at every request.
   */
  update(recount = false): void {
    const { outstanding, sessions, running } = this.#busy();
    let busy: boolean;
    if (outstanding > 0) busy = true;
    else if (sessions === 0) busy = false;
    else if (!recount && this.#held)
      return; // held until the next count finds nothing running
    else busy = running();
    if (busy === this.#held) return;
    this.#held = busy;
    const child = this.#child;
    for (const handle of [child, child.stdin, child.stdout] as ({ ref?(): void; unref?(): void } | null)[])
      if (busy) handle?.ref?.();
      else handle?.unref?.();
  }

  stop(): void {
    clearInterval(this.#recount);
  }
}
