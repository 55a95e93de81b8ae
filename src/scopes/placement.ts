/**
 * Where the lease authority sends a scope, and how long a scope can stay
 * without a holder (docs/scopes.md, "The authority" and "Liveness"). Pure
 * decisions over the authority's view of the regions; the authority does the
 * writing.
 */
import type { MoveReason } from "../wire/events.js";
import type { ScopeRegion } from "./types.js";

/** Where a scope goes, why, and whether it is pinned there (a manual move away from home). */
export interface Target {
  region: string;
  reason: MoveReason;
  pinned: boolean;
}

/** The authority's view of the regions, on its own clock. */
export interface PlacementView {
  /** A leader seen renewing within its regional lease. */
  live(region: string): boolean;
  leader(region: string): string | null;
  /** Length of the current healthy streak (ms), -1 when not healthy. */
  healthyFor(region: string): number;
  /** No live leader seen for a full regional lease. */
  presumedDown(region: string): boolean;
  failbackAfterMs(): number;
}

/**
 * The target of a scope now assigned to `current` (null: to nobody), or null
 * to wait. `exclude` is a node that failed to renew it; `pinned`: moved to
 * `current` by hand. Preferences (a pin, home when healthy, the failover
 * order, excluding the node that failed) only order the live regions: while
 * an eligible region (home or failover list) is live, a target is returned,
 * at the latest one regional lease after `current` was last seen live.
 */
export function chooseTarget(v: PlacementView, spec: ScopeRegion, current: string | null, exclude: string | null, pinned: boolean): Target | null {
  const t = prefer(v, spec, current, exclude, pinned);
  if (t || exclude === null) return t;
  // Every live region is led by the node that failed to renew (e.g. the only
  // surviving region, whose link to the global bucket was cut for a while):
  // granting back to it costs at worst another lease; excluding it would
  // leave the scope unheld for as long as it leads.
  return prefer(v, spec, current, null, pinned);
}

function prefer(v: PlacementView, spec: ScopeRegion, current: string | null, exclude: string | null, pinned: boolean): Target | null {
  const ok = (r: string) => v.live(r) && v.leader(r) !== exclude;
  const home = spec.name;
  // A region between two regional leaders (a resign, a crash just taken
  // over) is not a failed region: give it one regional lease to show its new
  // leader before moving its scope away. Not when its own leader is the one
  // that stopped renewing the scope (exclude): that one may never come back.
  const waitFor = (r: string) => exclude === null && !v.presumedDown(r);
  // Moved here by hand: stays while the region lives, through leader changes.
  if (pinned && current) {
    if (ok(current)) return { region: current, reason: "leader-change", pinned: true };
    if (waitFor(current)) return null;
  }
  if (ok(home) && (current === null || current === home || v.healthyFor(home) >= v.failbackAfterMs())) {
    return { region: home, reason: current === null ? "initial" : current === home ? "leader-change" : "failback", pinned: false };
  }
  if (current && ok(current)) return { region: current, reason: "leader-change", pinned: false };
  if (waitFor(current ?? home)) return null;
  for (const r of spec.failover) if (ok(r)) return { region: r, reason: "failover", pinned: false };
  // The healthy streak only ranks live regions: a live home that is the only
  // choice takes its scope at once rather than after the failback window.
  if (ok(home)) return { region: home, reason: "failover", pinned: false };
  return null;
}

/** Period of the authority's rounds and region polls: a third of the scope renew interval, at least 20 ms. */
export const authorityRoundMs = (scopeRenewMs: number) => Math.max(20, Math.floor(scopeRenewMs / 3));

/**
 * Liveness bound of a scope (docs/scopes.md, "Liveness"): from a moment T0
 * after which nothing fails, when a global leader exists and some eligible
 * region (home or failover list) has a regional leader, the scope is held
 * again within this many ms. Longest paths: a grant to a leader that died
 * just before T0, which the authority still sees live for a regional lease,
 * re-granted after a full scope lease; or a released scope waiting up to two
 * regional leases for its previous region's new leader. `roundTripMs` bounds
 * one store call; `maxDrift` stretches durations measured on the authority's
 * clock. Calls still in flight at T0 (up to a request timeout) come on top.
 */
export function scopeLivenessBoundMs(t: { scopeLeaseMs: number; scopeRenewMs: number; regionLeaseMs: number; roundTripMs: number; maxDrift: number }): number {
  const p = authorityRoundMs(t.scopeRenewMs);
  const waits = t.regionLeaseMs + Math.max(t.regionLeaseMs, t.scopeLeaseMs) + 2 * p + t.scopeRenewMs;
  return Math.ceil(waits * (1 + t.maxDrift) + 6 * t.roundTripMs);
}
