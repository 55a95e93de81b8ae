/**
 * What a regent participant (`node.ts`) is started with, and what it
 * reports: its options, the scope options, its role changes and the role a
 * service guards work with.
 */
import type { ElectionOptions } from "../election/election.js";
import type { TimingOptions } from "../election/timing.js";
import type { LeaseStore } from "../lease/store.js";
import type { Logger } from "../observability/logger.js";
import type { LesseeEvent, ScopeRegion } from "../scopes/types.js";
import type { DeposedReason, LeaderEvent, ScopeEvent } from "../wire/events.js";

/** A role as a service should use it to guard work. */
export interface Role {
  held: boolean;
  /** Fencing token of the current term, `null` when not held. */
  token: number | null;
  /** Monotonic deadline (ms); 0 when not held. */
  validUntil: number;
  /** Aborts when the term ends (already aborted when not held). */
  signal: AbortSignal;
}

/** Role changes of this node. */
export type NodeRoleEvent =
  | { type: "elected"; tier: "region" | "global"; token: number; validUntil: number }
  /** A renewal moved the validity of `tier` (global validity is capped by the regional one). */
  | { type: "renewed"; tier: "region" | "global"; token: number; validUntil: number }
  | { type: "deposed"; tier: "region" | "global"; token: number; reason: DeposedReason }
  | { type: "leader-changed"; tier: "region" | "global"; leader: string | null; token: number | null }
  | LesseeEvent;

/** Region-scoped leases: one scope per region (named after it), see docs/scopes.md. */
export interface ScopeOptions {
  /** Scope lease timing (leaseMs, renewMs…). */
  timing: TimingOptions;
  /** How long a home region must be healthy before its scope fails back. */
  failbackAfterMs: number;
  /** Every region: its failover order and regional lease (to judge liveness). */
  regions: ScopeRegion[];
  /**
   * Any region's lease store, or its stores when it elects on a quorum of
   * them (full mode), in the order of its servers: the authority reads every
   * region's lease; a region is live while any of its stores shows its
   * leader renewing.
   */
  regionStore: (region: string) => Promise<LeaseStore | LeaseStore[]>;
  /** How many stores each region elects on (default 1); needed for a region electing on a quorum. */
  storesPerRegion?: (region: string) => number;
  /** Publishes scope events. Must not throw. */
  publish?: (e: ScopeEvent) => void;
}

/** Options of {@link startNode}. */
export interface NodeOptions {
  /** Deployment name (subject token). */
  cluster: string;
  /** This node's region (subject token). */
  region: string;
  /** Unique node id. */
  id: string;
  /**
   * The region's own lease: one store (a single CAS register, light mode),
   * or a quorum of stores, one per server of the region (full mode): as for
   * {@link quorumStores}, either the stores or a factory of fresh store
   * objects (the regional election is their only participant).
   */
  regionalStore: LeaseStore | LeaseStore[] | (() => LeaseStore[]);
  /**
   * The quorum of the global lease and the scope leases: every region's
   * quorum bucket, in topology order (regions sorted by name), the same
   * order for every participant. Either the stores, shared by this node's
   * quorum participants (memory stores, simulations), or a factory called
   * once per participant (the global election, each lessee, each authority)
   * returning store objects of its own: a `NatsLeaseStore`'s restart guard
   * fails the first call per key for every caller of one object, so
   * participants sharing one would see each other's failure (docs/quorum.md,
   * Q3).
   */
  quorumStores: LeaseStore[] | (() => LeaseStore[]);
  regionalTiming?: TimingOptions;
  globalTiming?: TimingOptions;
  logger?: Logger;
  /** Called with every leader event to publish (see `bus.ts`). Must not throw. */
  publish?: (e: LeaderEvent) => void;
  /** Deterministic simulation hooks, passed to both elections. */
  simulation?: ElectionOptions["simulation"];
  /** Extra record metadata (address, priority…). */
  meta?: Record<string, string>;
  /** Region-scoped leases; omit to run elections only. */
  scopes?: ScopeOptions;
}
