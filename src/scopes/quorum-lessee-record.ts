/**
 * What the quorum lessee (quorum-lessee.ts) writes on one store: its view of
 * that store, and the record a confirm, re-take, renewal or release puts
 * there, with the term secret rules of docs/quorum.md, "Forged scope
 * records". Kept apart from the lessee's decision procedure, which only says
 * which write to make where.
 */
import type { Timing } from "../election/timing.js";
import type { ScopeView } from "./record.js";
import type { ScopeSlot } from "./quorum-scope.js";
import type { ScopeRecord } from "../wire/scope-record.js";

/** The lessee's writes. */
export type Kind = "confirm" | "take" | "renew" | "release";

/** The lessee's knowledge of one store for one scope. */
export interface LSlot extends ScopeSlot {
  nextRenew: number;
  /** The record we last wrote here (what renewals and the release build on). */
  rec: ScopeRecord | null;
  bid: "pending" | "won" | "lost" | null;
  /** A write here met a conflict: read before writing again. */
  suspect: boolean;
}

/** A term's secret, drawn when its confirm starts: held records carry `commit`, the release `secret`. */
export interface TermSecret {
  term: number;
  secret: string;
  commit: string;
}

/**
 * The record a write of `kind` puts on `s`, or null when it has no secret
 * for the term it would hold (never: every held write is of the term whose
 * confirm drew `secret`). `stores` is how many stores the lessee holds on.
 */
export function lesseeRecord(kind: Kind, s: LSlot, secret: TermSecret | null, timing: Timing, stores: number): ScopeRecord | null {
  // Renewals and the release of a store we hold build on our own record; the
  // rest (confirms, re-takes, stale releases) on the record read there.
  const own = (kind === "renew" || kind === "release") && s.heldRev !== null && s.rec !== null;
  const seen = s.sv as Extract<ScopeView, { record: ScopeRecord }>;
  const base = own ? s.rec! : seen.record;
  const rec: ScopeRecord = { ...base, state: kind === "release" ? "released" : "held", token: own ? s.rec!.token : seen.token, renewedAt: Date.now() };
  if (kind !== "renew") Object.assign(rec, { leaseMs: timing.leaseMs, renewMs: timing.renewMs, stores });
  if (kind === "release") delete rec.recall;
  // Held records commit to the term's secret; only a release (after the term
  // ended, or of a bid that never held) reveals it. A stale release of a
  // term whose secret we no longer have reveals nothing: waited out.
  delete rec.commit;
  delete rec.reveal;
  const mine = secret?.term === rec.token ? secret : null;
  if (kind === "release") {
    if (mine) rec.reveal = mine.secret;
  } else if (mine) rec.commit = mine.commit;
  else return null;
  return rec;
}
