/**
 * Types shared by the scope lessee, the lease authority and the node that
 * runs them (docs/scopes.md). The algorithms are in `quorum-lessee.ts` and
 * `quorum-authority.ts`.
 */

/** A region as the lease authority sees it: its failover order and regional lease. */
export interface ScopeRegion {
  name: string;
  failover: string[];
  leaseMs: number;
}

/** Result of a move request. */
export interface MoveResult {
  scope: string;
  region: string;
  node: string;
  token: number;
}

/** Why a lessee stopped holding a scope. */
export type ScopeEndReason = "lapsed" | "recalled" | "superseded" | "region-lost" | "stopped";

/** What a lessee reports about its scopes. */
export type LesseeEvent =
  | { type: "scope-held"; scope: string; token: number; validUntil: number }
  | { type: "scope-renewed"; scope: string; token: number; validUntil: number }
  | { type: "scope-ended"; scope: string; token: number; reason: ScopeEndReason };
