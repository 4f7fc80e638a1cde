// What a recovery does with a cell's calls in doubt (SPEC §16): started, with no outcome kept. One
// whose tool is `idempotent` is made again, with its idempotency key; any other pauses the cell
// when it reaches it (`{ kind: 'interrupted', reason: 'inDoubt', … }`) for the agent to settle.
// In-process and remote recoveries alike plan it here, from the cell's ledger.
import { idempotencyKey } from '../cell/tool-calls.js';
import type { ReplayableCell } from '../session/snapshot.js';
import type { JsonValue, NestedToolCall } from '../types.js';
import type { CellLedger } from './cell-ledger.js';

/** The cell as it runs again (its non-idempotent calls in doubt queued to pause it), and the calls to make again. */
export interface InDoubtPlan {
  cell: ReplayableCell;
  again: NestedToolCall[];
}

export function planInDoubt(ledger: CellLedger, replayable: ReplayableCell, sessionKey: string): InDoubtPlan {
  const again: NestedToolCall[] = [];
  const paused: string[] = [];
  for (const callId of ledger.inDoubt) {
    // Paused in doubt at it by an earlier recovery, and not settled yet: it is paused there again.
    if (callId === replayable.paused?.callId) {
      ledger.doubted(callId);
      continue;
    }
    const call = callOf(replayable, callId, sessionKey);
    if (call === undefined) continue;
    if (call.idempotent) again.push(call.call);
    else {
      paused.push(callId);
      ledger.doubted(callId);
    }
  }
  if (paused.length === 0) return { cell: replayable, again };
  const queued = paused.map((callId) => ({ callId, payload: null, inDoubt: true as const }));
  const cell: ReplayableCell = {
    ...replayable,
    outstanding: replayable.outstanding.filter((callId) => !paused.includes(callId)),
    queued: [...(replayable.queued ?? []), ...queued],
  };
  return { cell, again };
}

/** The call as its delegate got it, and whether its tool is idempotent (undefined: not in the journal). */
function callOf(
  cell: ReplayableCell,
  callId: string,
  sessionKey: string,
): { call: NestedToolCall; idempotent: boolean } | undefined {
  const journaled = cell.journal.calls.find((each) => each.callId === callId);
  const tool = journaled === undefined ? undefined : cell.tools[journaled.index];
  if (journaled === undefined || tool === undefined) return undefined;
  const { name, namespace } = tool;
  const call: NestedToolCall = {
    cellId: cell.cellId,
    callId,
    tool: namespace === undefined ? { name } : { name, namespace },
    kind: tool.kind ?? 'function',
    input: journaled.inputJson === '' ? undefined : (JSON.parse(journaled.inputJson) as JsonValue),
    idempotencyKey: idempotencyKey(sessionKey, cell.cellId, callId),
  };
  return { call, idempotent: tool.idempotent === true };
}
