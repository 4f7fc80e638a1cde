// What a host sends a re-homing client about a session's durability — a cell's journal
// (cell/journal, and `journal` in tool/invoke and cell/notify) and each commit of its stored
// values (session/stored) — checked at the client's edge against one declared shape (STYLE 30).
// A message that does not fit is a broken host: its link treats it as lost, and its sessions move.
import * as z from 'zod';
import type { CellJournalPart } from '../wire/protocol.js';

/** A host broke a bound of this client's, or sent what it may not: it is treated as lost. */
export class HostBrokeBound extends Error {}

const count = z.number().int().nonnegative();

const journaledCall = z.object({ callId: z.string(), index: count, inputJson: z.string() });

const delivery = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('settle'),
    callId: z.string(),
    ok: z.boolean(),
    payload: z.string(),
    errorKind: z.string(),
  }),
  z.object({ kind: z.literal('timer'), id: z.number().int() }),
]);

const update = z.object({
  clock: z.array(z.number()).optional(),
  calls: z.array(journaledCall).optional(),
  deliveries: z.array(delivery).optional(),
  outputs: count,
  notifications: count,
  lost: z.literal(true).optional(),
});

/** What the cell runs; its tools and limits are checked again by the host that runs it again. */
const start = z.object({
  code: z.string(),
  filename: z.string(),
  toolCallId: z.string(),
  tools: z.array(z.object({ name: z.string(), namespace: z.string().optional() }).passthrough()),
  limits: z.record(z.string(), z.number()),
  seed: z
    .number()
    .int()
    .nonnegative()
    .lt(2 ** 32),
  storedAt: count.nullable(),
});

const journalPart = z.object({ start: start.optional(), update: update.optional() });

const storedValues = z.record(z.string(), z.string());

/** A journal part as declared, or why it is not. */
export function checkJournalPart(value: unknown): { part: CellJournalPart } | { why: string } {
  const checked = journalPart.safeParse(value);
  return checked.success ? { part: checked.data as CellJournalPart } : { why: describe('a journal', checked.error) };
}

/** A commit's stored values as declared (JSON texts by key), or why they are not. */
export function checkStoredValues(value: unknown): { values: Record<string, string> } | { why: string } {
  const checked = storedValues.safeParse(value);
  return checked.success ? { values: checked.data } : { why: describe('stored values', checked.error) };
}

function describe(what: string, error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? '' : ` at ${issue.path.join('.')}`;
  return `${what} of another shape${where}: ${issue?.message ?? 'invalid'}`;
}
