/**
 * What a follower may conclude from a change of the lease key that it cannot
 * attribute to the protocol (issue 14: forged records). Pure functions over
 * the machine's context; docs/safety.md (R9) argues the rules.
 *
 * Anyone with publish rights on the bucket's subjects can write any record,
 * so the record alone proves nothing about its writer. Two things do:
 * - time: a state watched unchanged for a full lease (R3) is safe to take
 *   whoever wrote it;
 * - the term secret: each holder publishes `commit = sha256(secret)` on its
 *   held records and reveals `secret` only in its release. A release whose
 *   secret matches the commitment this follower saw on that term's held
 *   records was written by the holder, after it stopped acting.
 * Everything else — a release it cannot verify, a delete over a held
 * record (regent never deletes), the release of a term that started over a
 * record not yet waited out, unless that term was then watched for a full
 * lease — is waited out for a full lease like a held record.
 * Waiting is always safe; it costs at most one lease of availability.
 */
import { leaseToWait, type LeaseView } from "../lease/record.js";
import { commitOf } from "../wire/lease-record.js";

/** The held term a follower is watching, with its commitment. */
export interface SeenTerm {
  holder: string;
  token: number;
  /** The term's commitment; null if it changed mid-term (never written by the protocol): never trusted. */
  commit: string | null;
  /**
   * From when a release of this term may be taken at once: when it was first
   * seen if it started over a state that was open, else a full lease later
   * (`W` from the term's record and what was seen before). Any holder whose
   * record the term's first write replaced unseen is past its deadline by
   * then (the R3 argument, from the first sighting of the term).
   */
  trustedAt: number;
}

/** The parts of the election context these rules read. */
export interface ObservedState {
  /** Revision observed last (-1: nothing observed yet). */
  observedRevision: number;
  observedSince: number;
  observedLeaseMs: number;
  /** The observed state may be taken at once (vacant or a verified release). */
  observedFree: boolean;
  seenTerm: SeenTerm | null;
}

/** Verdict on a newly observed state. */
export interface Judgement {
  /** It may be taken at once (if vacant, or released by someone else). */
  free: boolean;
  seenTerm: SeenTerm | null;
}

/**
 * Judges a newly observed revision `v` against what was observed before.
 *
 * A candidate that has observed nothing yet trusts only a key that was
 * never written (revision 0: no delete marker), or no election could start
 * without first waiting a lease. It cannot tell whose a delete marker, a
 * release or a held term is: who deleted, and whether a holder of some
 * earlier term is still valid.
 */
export function judge(prev: ObservedState, v: LeaseView, now: number): Judgement {
  const first = prev.observedRevision < 0;
  // The previous state let a new term start at once, or was waited out for a
  // full lease (a lost acquiring race clears both: `lostRace` in machine.ts).
  const prevOpen = !first && (prev.observedFree || now - prev.observedSince >= prev.observedLeaseMs);
  switch (v.state) {
    case "vacant":
      // Regent never deletes: a delete over a held record is waited out.
      return { free: first ? v.revision === 0 : prevOpen, seenTerm: null };
    case "unknown":
      return { free: false, seenTerm: null };
    case "held": {
      const s = prev.seenTerm;
      const commit = v.record.commit ?? null;
      if (s && s.holder === v.holder && s.token === v.token) {
        // The same term renewing. A commitment that changes mid-term is never written by the protocol.
        return { free: false, seenTerm: { ...s, commit: s.commit !== null && s.commit === commit ? commit : null } };
      }
      // A new term: trusted at once only if it could have started legitimately from what we saw before it.
      const trustedAt = prevOpen ? now : now + leaseToWait(v, prev.observedLeaseMs);
      return { free: false, seenTerm: { holder: v.holder, token: v.token, commit, trustedAt } };
    }
    case "released": {
      const s = prev.seenTerm;
      const reveal = v.record.reveal;
      const verified =
        s !== null &&
        s.commit !== null &&
        now >= s.trustedAt &&
        s.holder === v.holder &&
        s.token === v.token &&
        reveal !== undefined &&
        commitOf(reveal) === s.commit;
      return { free: verified, seenTerm: null };
    }
  }
}

/** Whether `v` may be taken at once: the same revision keeps its earlier verdict. */
export function isFree(prev: ObservedState, v: LeaseView, now: number): boolean {
  return v.revision === prev.observedRevision ? prev.observedFree : judge(prev, v, now).free;
}
