// What a host sends a re-homing client about a session's durability — a cell's journal
// (cell/journal, and `journal` in tool/invoke and cell/notify) and each commit of its stored
// values (session/stored) — checked at the client's edge against one declared shape (STYLE 30).
// A message that does not fit is a broken host: its link treats it as lost, and its sessions move.
import type { CellJournalPart, WireDelivery } from '../wire/protocol.js';
import {
  array,
  boolean,
  count,
  describeMisfit,
  integer,
  literal,
  nullable,
  number,
  object,
  optional,
  recordOf,
  string,
  taggedBy,
  type Shape,
} from '../wire/shape.js';

/** A host broke a bound of this client's, or sent what it may not: it is treated as lost. */
export { BrokeBound as HostBrokeBound } from '../../src/internal.js';

const journaledCall = object({ callId: string, index: count, inputJson: string });

const tagged = taggedBy('kind', {
  settle: object({ callId: string, ok: boolean, payload: string, errorKind: string }),
  timer: object({ id: integer }),
  answered: object({ callId: string }),
});

/** A delivery: as the cell took it, or (a call's id alone) the answer this client gave the call. */
const delivery: Shape<WireDelivery> = (value) => (typeof value === 'string' ? undefined : tagged(value));

const update = object({
  clock: optional(array(number)),
  calls: optional(array(journaledCall)),
  deliveries: optional(array(delivery)),
  outputs: optional(count),
  notifications: optional(count),
  lost: optional(literal(true)),
});

/** An unsigned 32-bit integer: Math.random's seed in the sandbox. */
const seed: Shape<number> = (value) =>
  Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) < 2 ** 32
    ? undefined
    : { path: [], message: 'expected a seed (an integer, 0 ≤ seed < 2³²)' };

/**
 * What the cell runs; its tools and limits (absent: the session's) are checked again by the host
 * that runs it again.
 */
const start = object({
  code: string,
  filename: string,
  toolCallId: string,
  tools: optional(array(object({ name: string, namespace: optional(string) }))),
  limits: optional(recordOf(number)),
  seed,
  storedAt: nullable(count),
});

const journalPart = object({ start: optional(start), update: optional(update) });

const storedValues = recordOf(string);

/** A journal part as declared, or why it is not. */
export function checkJournalPart(value: unknown): { part: CellJournalPart } | { why: string } {
  const misfit = journalPart(value);
  return misfit === undefined ? { part: value as CellJournalPart } : { why: describeMisfit('a journal', misfit) };
}

/** A commit's stored values as declared (JSON texts by key), or why they are not. */
export function checkStoredValues(value: unknown): { values: Record<string, string> } | { why: string } {
  const misfit = storedValues(value);
  return misfit === undefined
    ? { values: value as Record<string, string> }
    : { why: describeMisfit('stored values', misfit) };
}
