/**
 * The safety rules of the quorum lease (docs/quorum.md argues them), as pure
 * functions over what one participant knows of each store. `quorum.ts` only
 * does I/O and bookkeeping around them; the simulation's mutation tests
 * replace one rule at a time (`QuorumRules`) to check that the oracle notices.
 */
import { leaseToWait, type LeaseView } from "../lease/record.js";
import { judge, type SeenTerm } from "./attribution.js";
import type { Timing } from "./timing.js";

/** What a participant knows of one store. Times are its own monotonic ms. */
export interface Slot {
  /** Last view read from the store, or null until a read succeeded since start or since the last failure. */
  view: LeaseView | null;
  /** Reply time of the read that first saw `view.revision` (restarted by any failure). */
  observedSince: number;
  /**
   * Reply time of the first successful read after start or after the last
   * failure on this store (failed call, broken watch, revision going back).
   * A lossy restart of the store is seen as such a failure, so nothing
   * learnt before it is trusted: every take waits a full lease from here.
   */
  settledSince: number | null;
  /** Revision of our own last successful write of the current term here, or null. */
  heldRev: number | null;
  /** Our validity bound from this store: send time of that write + validFor (−∞ when none). */
  deadline: number;
  /**
   * `view` may be taken at once as far as its writer goes (attribution.ts,
   * safety.md R9): a release revealing the secret committed by a term this
   * participant trusts on this store, or our own release. Anything else on
   * the store is waited out for a full lease, whoever wrote it.
   */
  free: boolean;
  /** The held term watched on this store, with its commitment and since when it is trusted. */
  seenTerm: SeenTerm | null;
}

/** The rules, each replaceable by a simulation mutation. */
export interface QuorumRules {
  /** How many stores a holder needs. */
  quorumSize(n: number): number;
  /**
   * Local time from which `self` may compare-and-set over `slot.view` when
   * bidding for or holding `term`, or null when it may not at all.
   */
  takeableAt(slot: Slot, self: string, term: number, bidding: boolean, timing: Timing): number | null;
  /**
   * Whether a record of term `recordTerm` may be overwritten with `term`.
   * Terms never go down on a store: a bid writes a term above the record's,
   * a holder re-takes only records of its own term or lower.
   */
  termAllows(recordTerm: number, term: number, bidding: boolean): boolean;
  /** Deadline this store gives after a successful write sent at `sendAt` whose reply came at `replyAt`. */
  storeDeadline(sendAt: number, replyAt: number, timing: Timing): number;
  /** The term of a new bid, from the views read and the highest term this participant has ever seen. */
  nextTerm(views: (LeaseView | null)[], highestSeen: number): number;
}

/** Term (fencing token) a view carries; 0 when none can be read. */
export function termOf(v: LeaseView | null): number {
  return v && (v.state === "held" || v.state === "released") ? v.token : 0;
}

/**
 * How long a record must be watched unchanged before it may be taken: the
 * longer of our lease and the lease its writer uses (mixed timing configs),
 * our own for records that name no lease (vacant, undecodable).
 */
export function waitFor(v: LeaseView, timing: Timing): number {
  return leaseToWait(v, timing.leaseMs, timing.maxLeaseMs);
}

/** The validity of a holder: the latest time by which `q` of the stores still back it (q-th largest deadline). */
export function validityOf(deadlines: number[], q: number): number {
  const sorted = [...deadlines].sort((a, b) => b - a);
  return sorted[q - 1] ?? Number.NEGATIVE_INFINITY;
}

export const safeRules: QuorumRules = {
  // A strict majority: any two quorums share a store.
  quorumSize: (n) => Math.floor(n / 2) + 1,

  takeableAt(slot, self, term, bidding, timing) {
    const v = slot.view;
    if (v === null || slot.settledSince === null) return null;
    // Our own write of this very term (a reply lost, or the store went back
    // to an earlier renewal): ours already, no one else can hold it.
    if (!bidding && (v.state === "held" || v.state === "released") && v.holder === self && v.token === term && !v.record.released) {
      return slot.observedSince;
    }
    const wait = waitFor(v, timing);
    // Released by someone else, and attributed to a term we trust here: at
    // once, once the store has been watched a full lease without a failure
    // (a restart may have brought back an old release).
    if (v.state === "released" && v.holder !== self && slot.free) return slot.settledSince + wait;
    // Held, vacant, undecodable, our own release or a release we cannot
    // attribute (forged, or of a term we do not trust): the same revision for a full lease.
    return slot.observedSince + wait;
  },

  termAllows: (recordTerm, term, bidding) => (bidding ? recordTerm < term : recordTerm <= term),

  storeDeadline: (sendAt, _replyAt, timing) => sendAt + timing.validForMs,

  nextTerm: (views, highestSeen) => 1 + Math.max(highestSeen, ...views.map(termOf)),
};

/**
 * What `slot` learns from reading `v` there, a revision it had not seen
 * (attribution.ts judges it against what the slot saw before; after a
 * failure, a lost race or a store going back, `view` is null: nothing seen).
 */
export function attribute(slot: Slot, v: LeaseView, now: number, timing: Timing): { free: boolean; seenTerm: SeenTerm | null } {
  const prev = slot.view;
  return judge(
    {
      observedRevision: prev ? prev.revision : -1,
      observedSince: slot.observedSince,
      observedLeaseMs: prev ? leaseToWait(prev, timing.leaseMs, timing.maxLeaseMs) : timing.maxLeaseMs,
      observedFree: prev !== null && slot.free,
      seenTerm: prev ? slot.seenTerm : null,
    },
    v,
    now,
  );
}
