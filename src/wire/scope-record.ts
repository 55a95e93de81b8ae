/**
 * The scope lease record, stored under `scopeKey(scope)` (names.ts) in every
 * quorum bucket. Two parties write it, always by compare-and-set on its
 * revision:
 * - the lease authority (the global leader) writes grants and recalls;
 * - the lessee (the named region's regional leader) confirms, renews and
 *   releases.
 * See docs/scopes.md for the protocol and why it never lets two regions hold
 * a scope at once, docs/wire.md for the field table; what a record means to
 * the authority and the lessee (its view) is in scopes/record.ts.
 */
import { packPlain, unpackPlain } from "./msgpack.js";
import { isCommit, isLeaseMs, isReveal } from "./lease-record.js";
import type { MoveReason } from "./events.js";

/** Schema version of {@link ScopeRecord}. */
export const SCOPE_RECORD_VERSION = 1;

/**
 * `granted`: written by the authority, not yet confirmed — the lessee may not act yet.
 * `held`: confirmed or renewed by the lessee — it acts within its own validity.
 * `released`: given back by the lessee (or by the authority for a grant never confirmed).
 */
export type ScopeState = "granted" | "held" | "released";

export interface ScopeRecord {
  v: number;
  scope: string;
  /** Region whose control plane normally owns the scope. */
  home: string;
  /** Region and node the scope is assigned to. */
  region: string;
  node: string;
  state: ScopeState;
  /** Fencing token; 0 on the granting write itself, whose token is its own revision. */
  token: number;
  /**
   * Scope lease of the record's writer (the authority on a grant or recall,
   * the lessee on its confirm, renewals and release), at most 24 h. Before a
   * re-grant the authority waits max(its own lease, this).
   */
  leaseMs: number;
  renewMs: number;
  /** Why this grant happened. */
  reason: MoveReason;
  /** Set by the authority on a held lease it wants back (failback, manual move). */
  recall?: "failback" | "manual";
  /**
   * `manual`: moved here by hand; no automatic failback until a `failback`
   * move, or until this region fails. Written on grants only; the lessee's
   * confirm, renewals and release carry it along. Absent on older records.
   */
  pinned?: "manual";
  /**
   * Quorum scope leases only (docs/quorum.md): how many independent stores
   * the writer's majority is counted over. A lessee confirms only grants of
   * its own store count, so two configs never count different majorities.
   * Absent on single-bucket records.
   */
  stores?: number;
  /**
   * Quorum scope leases only, as on a lease record (lease-record.ts): on the
   * lessee's `held` records (and the authority's recall, which copies them),
   * SHA-256 (hex) of a secret the lessee drew for this term; the same on
   * every write of the term. Never on a grant.
   */
  commit?: string;
  /**
   * Quorum scope leases only: on the lessee's `released` record, the term's
   * secret. The authority re-grants at once only over a release whose
   * `commitOf(reveal)` equals the `commit` it watched on that term's held
   * records there (docs/quorum.md, "Forged records").
   */
  reveal?: string;
  /** Previous holder, on a grant that moved the scope. */
  from?: { region: string; node: string; token: number };
  /** Authority that wrote the grant (node id and its global token). */
  grantedBy: { node: string; token: number };
  /** Wall-clock ms: display only. */
  grantedAt: number;
  renewedAt: number;
}

export function encodeScope(r: ScopeRecord): Uint8Array {
  return packPlain(r);
}

/**
 * Decodes a scope record, or returns why not. Every field is checked and the
 * result holds only known fields: a record is anyone's bytes (issue 14), and
 * a foreign value must not reach the authority, the lessee or `state`.
 */
export function decodeScope(bytes: Uint8Array): ScopeRecord | string {
  let r: Record<string, unknown>;
  try {
    const raw = unpackPlain(bytes);
    if (!isMap(raw)) return "not a map";
    r = raw;
  } catch (err) {
    return `not msgpack: ${(err as Error).message}`;
  }
  if (r.v !== SCOPE_RECORD_VERSION) return `unsupported scope record version ${typeof r.v === "number" ? r.v : typeof r.v}`;
  for (const f of ["scope", "home", "region", "node", "reason"]) if (typeof r[f] !== "string") return `${f} invalid`;
  if (r.state !== "granted" && r.state !== "held" && r.state !== "released") return "state invalid";
  if (!isToken(r.token)) return "token invalid";
  // Bounded like a lease record's: the authority waits this long before a re-grant.
  for (const f of ["leaseMs", "renewMs"]) if (!isLeaseMs(r[f])) return `${f} invalid`;
  if (!isMap(r.grantedBy) || typeof r.grantedBy.node !== "string" || !isToken(r.grantedBy.token)) return "grantedBy invalid";
  if (typeof r.grantedAt !== "number" || typeof r.renewedAt !== "number" || !Number.isFinite(r.grantedAt) || !Number.isFinite(r.renewedAt)) return "times invalid";
  if (r.recall != null && r.recall !== "failback" && r.recall !== "manual") return "recall invalid";
  if (r.stores !== undefined && (!Number.isSafeInteger(r.stores) || (r.stores as number) < 1)) return "stores invalid";
  if (r.commit !== undefined && !isCommit(r.commit)) return "commit invalid";
  if (r.reveal !== undefined && !isReveal(r.reveal)) return "reveal invalid";
  const from = r.from;
  if (from != null && (!isMap(from) || typeof from.region !== "string" || typeof from.node !== "string" || !isToken(from.token))) return "from invalid";
  const rec: ScopeRecord = {
    v: r.v,
    scope: r.scope as string,
    home: r.home as string,
    region: r.region as string,
    node: r.node as string,
    state: r.state,
    token: r.token as number,
    leaseMs: r.leaseMs as number,
    renewMs: r.renewMs as number,
    reason: r.reason as MoveReason,
    grantedBy: { node: r.grantedBy.node, token: r.grantedBy.token as number },
    grantedAt: r.grantedAt,
    renewedAt: r.renewedAt,
  };
  if (r.recall != null) rec.recall = r.recall as "failback" | "manual";
  if (isMap(from)) rec.from = { region: from.region as string, node: from.node as string, token: from.token as number };
  if (r.stores !== undefined) rec.stores = r.stores as number;
  if (r.commit !== undefined) rec.commit = r.commit as string;
  if (r.reveal !== undefined) rec.reveal = r.reveal as string;
  // A pin is advice about where the scope should stay, never about who may act:
  // an unknown value is read as no pin rather than making the record unknown.
  if (r.pinned === "manual") rec.pinned = "manual";
  return rec;
}

function isMap(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}
function isToken(x: unknown): boolean {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}
