// What a cell's ledger (cell-ledger.ts) is fed: a cell's journal in parts, as a host mirrors it to
// its client (SPEC §13) or as a session with a store records it (SPEC §16), and the error a part
// that breaks the ledger's bounds is refused with.
import type { JournalDelivery, JournalUpdate } from '../cell/journal.js';
import type { ReplayStart } from '../cell/snapshots.js';

/** A cell's own limits as this client set them: what bounds what it keeps of the cell. */
export interface LedgerBudget {
  journalMaxBytes: number;
  maxSourceBytes: number;
}

/** What the cell runs: as its host said (its stored values by commit), or as this client restored it. */
export type LedgerStart = Omit<ReplayStart, 'storedAt'> & {
  stored: { commit: number } | { values: Record<string, string> | null };
};

/** A part broke a bound of the ledger's, or said what it may not: its source is not trusted further. */
export class BrokeBound extends Error {}

/**
 * A delivery as the cell took it, or by reference: a call's outcome that is the value the
 * ledger's side answered the call with goes as the call's id alone (that side has the value).
 * (`{ kind: 'answered', callId }`, the form before, is still read.)
 */
export type PartDelivery = JournalDelivery | string | { kind: 'answered'; callId: string };

/**
 * What a cell consumed since the last part: `calls` may leave out the calls the ledger's side
 * learns of as it serves them, and `deliveries` may name its own answers by reference. The output
 * and notification counts are left out: the ledger's side counts what reached it (older hosts send
 * them; they are not read).
 */
export type PartUpdate = Omit<JournalUpdate, 'deliveries' | 'outputs' | 'notifications'> & {
  deliveries?: PartDelivery[];
  outputs?: number;
  notifications?: number;
};

/** What a cell runs: its tools and limits left out when they are its session's. */
export type PartStart = Omit<ReplayStart, 'tools' | 'limits'> & Partial<Pick<ReplayStart, 'tools' | 'limits'>>;
