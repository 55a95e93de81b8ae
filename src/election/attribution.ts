/**
 * What a follower may conclude from a change of the lease key that it cannot
 * attribute to the protocol (issue 14: forged records). Pure functions over
 * the machine's context; docs/safety.md (R8) argues the rules.
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
 * record (regent never deletes), a new term that started over a record not
 * yet waited out — is waited out for a full lease like a held record.
 * Waiting is always safe; it costs at most one lease of availability.
 */
import { commitOf, type LeaseView } from "../lease/record.js";

/** The held term a follower is watching, with its commitment if the term is trusted. */
export interface SeenTerm {
  holder: string;
  token: number;
  /** Commitment of a term that started legitimately as far as this follower saw; null = untrusted. */
  commit: string | null;
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
 * A candidate that has observed nothing yet trusts a vacant key (or no
 * election could start without first waiting a lease) and the commitment
 * of the first held term it sees, but not a release: it cannot tell whose
 * it is.
 */
export function judge(prev: ObservedState, v: LeaseView, now: number): Judgement {
  const first = prev.observedRevision < 0;
  // The previous state let a new term start at once, or was waited out for a full lease.
  const prevOpen = first || prev.observedFree || now - prev.observedSince >= prev.observedLeaseMs;
  switch (v.state) {
    case "vacant":
      // Regent never deletes: a delete over a held record is waited out.
      return { free: prevOpen, seenTerm: null };
    case "unknown":
      return { free: false, seenTerm: null };
    case "held": {
      const s = prev.seenTerm;
      const commit = v.record.commit ?? null;
      if (s && s.holder === v.holder && s.token === v.token) {
        // The same term renewing. A commitment that changes mid-term is never written by the protocol.
        return { free: false, seenTerm: { ...s, commit: s.commit !== null && s.commit === commit ? commit : null } };
      }
      // A new term: trusted only if it could have started legitimately from what we saw before it.
      return { free: false, seenTerm: { holder: v.holder, token: v.token, commit: prevOpen ? commit : null } };
    }
    case "released": {
      const s = prev.seenTerm;
      const reveal = v.record.reveal;
      const verified =
        s !== null && s.commit !== null && s.holder === v.holder && s.token === v.token && reveal !== undefined && commitOf(reveal) === s.commit;
      return { free: verified, seenTerm: null };
    }
  }
}

/** Whether `v` may be taken at once: the same revision keeps its earlier verdict. */
export function isFree(prev: ObservedState, v: LeaseView, now: number): boolean {
  return v.revision === prev.observedRevision ? prev.observedFree : judge(prev, v, now).free;
}
