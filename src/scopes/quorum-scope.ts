/**
 * What the quorum lessee and the quorum authority share (docs/quorum.md,
 * "Scope leases over a quorum"): a scope record on one store seen through the
 * quorum lease's rules. The rules themselves are `election/quorum-rules.ts`,
 * reused as they are: a scope record is mapped onto the lease view they
 * reason about (a granted or held record is "held" by its node, a released
 * one "released"), so the take rule, the term rules, the per-store deadline
 * and the q-th-largest validity are literally the same functions.
 */
import { attribute, safeRules, type QuorumRules, type Slot } from "../election/quorum-rules.js";
import type { Timing } from "../election/timing.js";
import type { LeaseView } from "../lease/record.js";
import type { LeaseStore, StoreEntry } from "../lease/store.js";
import { scopeViewOf, type ScopeView } from "./record.js";
import { LEASE_RECORD_VERSION, type LeaseRecord } from "../wire/lease-record.js";
import { SCOPE_FILTER, scopeOfKey } from "../wire/names.js";
import type { ScopeRecord } from "../wire/scope-record.js";
import type { Clock } from "../util/clock.js";

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
 * The term secret goes along as on a lease record: `commit` of a held record
 * (never of a grant: the lessee draws the secret), `reveal` of a release.
 */
export function asLeaseView(v: ScopeView): LeaseView {
  if (v.state === "vacant" || v.state === "unknown") return v;
  const r = v.record;
  const released = v.state === "released";
  const record: LeaseRecord = { v: LEASE_RECORD_VERSION, holder: r.node, token: v.token, leaseMs: r.leaseMs, renewMs: r.renewMs, acquiredAt: r.grantedAt, renewedAt: r.renewedAt, released };
  if (v.state === "held" && r.commit !== undefined) record.commit = r.commit;
  if (released && r.reveal !== undefined) record.reveal = r.reveal;
  return { state: released ? "released" : "held", revision: v.revision, holder: r.node, token: v.token, record };
}

/** One participant's knowledge of one store for one scope. */
export interface ScopeSlot extends Slot {
  store: LeaseStore;
  /** The scope view behind `view` (null exactly when `view` is). */
  sv: ScopeView | null;
  busy: boolean;
  nextRead: number;
  /**
   * `seenTerm` was first seen as a grant, and no held record of that term
   * has been seen here since: the first one's `commit` becomes the term's
   * (the lessee draws the secret only when it confirms).
   */
  grantOnly: boolean;
}

export function newSlot(store: LeaseStore, now: number): ScopeSlot {
  return {
    store, sv: null, view: null, observedSince: now, settledSince: null, heldRev: null, deadline: Number.NEGATIVE_INFINITY,
    free: false, seenTerm: null, grantOnly: false, busy: false, nextRead: now,
  };
}

/**
 * What `s` learns from `sv`, a revision it had not seen, read or written by
 * itself (call before `setView`): attribution.ts's rules over the lease view,
 * plus one step of the scope protocol. A term's first record is the
 * authority's grant, which carries no commitment; the first held record of
 * the term seen after it (the lessee's confirm) sets the commitment, trusted
 * from when the grant was (its `trustedAt`). A commitment that changes after
 * that is never trusted, as on a lease (a grant copied over a held record
 * does not reopen it).
 */
export function judgeScope(s: ScopeSlot, sv: ScopeView, now: number, timing: Timing): void {
  const prev = s.view ? s.seenTerm : null;
  const fromGrant = s.view !== null && s.grantOnly;
  const j = attribute(s, asLeaseView(sv), now, timing);
  const same = prev !== null && j.seenTerm !== null && prev.holder === j.seenTerm.holder && prev.token === j.seenTerm.token;
  if (sv.state === "held" && same && fromGrant) j.seenTerm = { ...prev, commit: sv.record.commit ?? null };
  s.free = j.free;
  s.seenTerm = j.seenTerm;
  s.grantOnly = sv.state === "granted" && (!same || fromGrant);
}

/**
 * Records a successful read (Slot rules of quorum.ts): the first read after a
 * failure settles the store; a revision going back (a restart that lost
 * writes) is treated like a failure; a new revision restarts the watch and
 * is judged (`judgeScope`). Returns true when the store went back.
 */
export function noteRead(s: ScopeSlot, entry: StoreEntry | null, now: number, timing: Timing): boolean {
  const sv = scopeViewOf(entry);
  let wentBack = false;
  if (s.settledSince === null) s.settledSince = now;
  else if (s.sv && sv.revision < s.sv.revision) {
    s.settledSince = now;
    wentBack = true;
    forget(s);
  }
  if (!s.sv || sv.revision !== s.sv.revision) {
    judgeScope(s, sv, now, timing);
    s.observedSince = now;
  }
  setView(s, sv);
  return wentBack;
}

/** Our view of the store is stale or untrusted (a lost race, a store going back): nothing read next is taken at once. */
export function forget(s: ScopeSlot): void {
  setView(s, null);
  s.free = false;
  s.seenTerm = null;
  s.grantOnly = false;
}

/** Anything may have happened on a failed call, a restart included: trust nothing learnt before. */
export function noteFailure(s: ScopeSlot): void {
  forget(s);
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

/**
 * A store call on `s` settled: its deadline is cleared and the slot is free
 * again; unless the participant stopped meanwhile, `apply` takes in the
 * outcome and `next` decides again.
 */
export function settle(s: ScopeSlot, clear: () => void, stopped: AbortSignal, apply: () => void, next: () => void): void {
  clear();
  s.busy = false;
  if (stopped.aborted) return;
  apply();
  next();
}

/** The scope's latest assignment as far as `slots` show: the highest-term record, and on how many stores it stands and how. */
export interface Assignment {
  term: number;
  rec: ScopeRecord;
  /** Released on some store: given back. */
  given: boolean;
  /** Stores showing it held and not recalled; held and recalled. */
  held: number;
  recalled: number;
}

export function latestAssignment(slots: ScopeSlot[]): Assignment | null {
  let best: ScopeRecord | null = null;
  let term = 0;
  for (const s of slots) {
    const t = scopeTerm(s.sv);
    if (t > term) [term, best] = [t, recordOf(s.sv)];
  }
  if (!best) return null;
  const same = slots.filter((s) => scopeTerm(s.sv) === term).map((s) => s.sv!);
  return {
    term,
    rec: best,
    given: same.some((v) => v.state === "released"),
    held: same.filter((v) => v.state === "held" && !recordOf(v)!.recall).length,
    recalled: same.filter((v) => v.state === "held" && !!recordOf(v)!.recall).length,
  };
}

/**
 * Watches every scope key on `store` until `signal`, calling `onEntry` with
 * each entry and its scope; a watch that breaks is opened again after
 * `retryMs`. Entries are only hints to read: reads are what the rules use.
 */
export function watchScopeKeys(store: LeaseStore, signal: AbortSignal, clock: Clock, retryMs: number, onEntry: (scope: string, e: StoreEntry) => void): void {
  void (async () => {
    while (!signal.aborted) {
      try {
        for await (const e of store.watch(SCOPE_FILTER, { signal })) onEntry(scopeOfKey(e.key), e);
      } catch {
        /* reads go on; watch again below */
      }
      if (!signal.aborted) await new Promise((r) => clock.setTimeout(() => r(undefined), retryMs));
    }
  })();
}
