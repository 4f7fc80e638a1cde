// What a recovery does with a cell's calls in doubt (SPEC §16): started, with no outcome kept. One
// whose tool is `idempotent` is made again — by the cell's own run again, as a call it had not
// made yet: the same call id, so the same idempotency key, under the cell's signal and deadline —
// and any other pauses the cell when it reaches it (`{ kind: 'interrupted', reason: 'inDoubt', … }`)
// for the agent to settle. In-process and remote recoveries alike plan it here, from the ledger.
import type { ReplayableCell } from '../cell/snapshots.js';
import type { CellLedger } from './cell-ledger.js';

/** The cell as it runs again, and the calls its run makes again (their journal entries left out). */
export interface InDoubtPlan {
  cell: ReplayableCell;
  again: string[];
}

export function planInDoubt(ledger: CellLedger, replayable: ReplayableCell): InDoubtPlan {
  const again: string[] = [];
  const paused: string[] = [];
  for (const callId of ledger.inDoubt) {
    // Paused in doubt at it by an earlier recovery, and not settled yet: it is paused there again.
    if (callId === replayable.paused?.callId) {
      ledger.doubted(callId);
      continue;
    }
    const journaled = replayable.journal.calls.find((each) => each.callId === callId);
    const tool = journaled === undefined ? undefined : replayable.tools[journaled.index];
    if (tool === undefined) continue;
    if (tool.idempotent === true) again.push(callId);
    else {
      paused.push(callId);
      ledger.doubted(callId);
    }
  }
  if (paused.length === 0 && again.length === 0) return { cell: replayable, again };
  const queued = paused.map((callId) => ({ callId, payload: null, inDoubt: true as const }));
  // Made again: a person's approval of it stands (the call goes marked approved, not asked again).
  const approved = again.filter((callId) => ledger.decided(callId));
  const cell: ReplayableCell = {
    ...replayable,
    journal: { ...replayable.journal, calls: replayable.journal.calls.filter(({ callId }) => !again.includes(callId)) },
    outstanding: replayable.outstanding.filter((callId) => !paused.includes(callId) && !again.includes(callId)),
    ...(queued.length === 0 && replayable.queued === undefined
      ? {}
      : { queued: [...(replayable.queued ?? []), ...queued] }),
    ...(approved.length === 0 ? {} : { approved }),
  };
  return { cell, again };
}
