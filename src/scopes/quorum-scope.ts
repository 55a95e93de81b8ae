/**
 * What the quorum lessee and the quorum authority share (docs/quorum.md,
 * "Scope leases over a quorum"): a scope record on one store seen through the
 * quorum lease's rules. The rules themselves are `election/quorum-rules.ts`,
 * reused as they are: a scope record is mapped onto the lease view they
 * reason about (a granted or held record is "held" by its node, a released
 * one "released"), so the take rule, the term rules, the per-store deadline
 * and the q-th-largest validity are literally the same functions.
 */
import { safeRules, type QuorumRules, type Slot } from "../election/quorum-rules.js";
import type { LeaseView } from "../lease/record.js";
import type { LeaseStore, StoreEntry } from "../lease/store.js";
import { scopeViewOf, type ScopeRecord, type ScopeView } from "./record.js";

/** The quorum rules plus the authority's one extra decision (replaceable by simulation mutations). */
export interface ScopeQuorumRules extends QuorumRules {
  /**
   * Given which stores are takeable now for a new term, the stores to write a
   * new grant onto, or null when no grant may start. Safe: only when a
   * majority is takeable, and then exactly those.
   */
  grantable(takeable: boolean[], q: number): boolean[] | null;
}

export const safeScopeRules: ScopeQuorumRules = {
  ...safeRules,
  grantable: (takeable, q) => (takeable.filter(Boolean).length >= q ? takeable : null),
};

export function scopeRules(overrides?: Partial<ScopeQuorumRules>): ScopeQuorumRules {
  return { ...safeScopeRules, ...overrides };
}

/**
 * A scope view as the quorum rules see it: granted and held records are
 * "held" by the record's node (a grant no one confirmed is still somebody's
 * until watched for a lease), released ones "released"; the token is the term.
 */
export function asLeaseView(v: ScopeView): LeaseView {
  if (v.state === "vacant" || v.state === "unknown") return v;
  const r = v.record;
  const released = v.state === "released";
  return {
    state: released ? "released" : "held",
    revision: v.revision,
    holder: r.node,
    token: v.token,
    record: { v: 1, holder: r.node, token: v.token, leaseMs: r.leaseMs, renewMs: r.renewMs, acquiredAt: r.grantedAt, renewedAt: r.renewedAt, released },
  };
}

/** One participant's knowledge of one store for one scope. */
export interface ScopeSlot extends Slot {
  store: LeaseStore;
  /** The scope view behind `view` (null exactly when `view` is). */
  sv: ScopeView | null;
  busy: boolean;
  nextRead: number;
}

export function newSlot(store: LeaseStore, now: number): ScopeSlot {
  // `free: true`: scope records carry no term secret yet, so a scope release
  // is taken as before, at once on a settled store (docs/quorum.md, "Forged records").
  return { store, sv: null, view: null, observedSince: now, settledSince: null, heldRev: null, deadline: Number.NEGATIVE_INFINITY, free: true, seenTerm: null, busy: false, nextRead: now };
}

/**
 * Records a successful read (Slot rules of quorum.ts): the first read after a
 * failure settles the store; a revision going back (a restart that lost
 * writes) is treated like a failure; a new revision restarts the watch.
 * Returns true when the store went back.
 */
export function noteRead(s: ScopeSlot, entry: StoreEntry | null, now: number): boolean {
  const sv = scopeViewOf(entry);
  let wentBack = false;
  if (s.settledSince === null) s.settledSince = now;
  else if (s.sv && sv.revision < s.sv.revision) {
    s.settledSince = now;
    wentBack = true;
  }
  if (!s.sv || sv.revision !== s.sv.revision) s.observedSince = now;
  setView(s, sv);
  return wentBack;
}

/** Anything may have happened on a failed call, a restart included: trust nothing learnt before. */
export function noteFailure(s: ScopeSlot): void {
  s.sv = null;
  s.view = null;
  s.settledSince = null;
}

export function setView(s: ScopeSlot, sv: ScopeView | null): void {
  s.sv = sv;
  s.view = sv ? asLeaseView(sv) : null;
}

/** Term of a scope view (0 for vacant and unknown). */
export function scopeTerm(v: ScopeView | null): number {
  return v && v.state !== "vacant" && v.state !== "unknown" ? v.token : 0;
}

/** The record of a view, when it has one. */
export function recordOf(v: ScopeView | null): ScopeRecord | null {
  return v && v.state !== "vacant" && v.state !== "unknown" ? v.record : null;
}

export const isConflict = (e: unknown) => (e as { code?: string } | null)?.code === "CONFLICT";
