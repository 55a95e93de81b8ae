/**
 * One simulated participant of the quorum-scoped deployment (issue 11): the
 * same composition as `regent node` (hierarchy/node-machine.ts). A regional
 * candidate on its region's own store; from the start an observer of the
 * global `QuorumElection` over every region's R1 store, a candidate only
 * while regional leader; from the start the quorum authority, writing only
 * while global leader; while regional leader, the quorum lessee of every
 * scope. Losing the region ends the global and scope roles in the same step,
 * and both are capped by the regional validity.
 */
import { startElection, type Election } from "../election/election.js";
import { startQuorumElection, type QuorumElection } from "../election/quorum.js";
import { resolveTiming } from "../election/timing.js";
import type { LeaseStore } from "../lease/store.js";
import { silentLogger } from "../observability/logger.js";
import type { ScopeRegion } from "../scopes/types.js";
import type { LesseeEvent } from "../scopes/types.js";
import { QuorumScopeAuthority } from "../scopes/quorum-authority.js";
import { QuorumScopeLessee } from "../scopes/quorum-lessee.js";
import type { ScopeQuorumRules } from "../scopes/quorum-scope.js";
import { GLOBAL_KEY, REGIONAL_KEY } from "../wire/names.js";
import type { Clock } from "../util/clock.js";

export type QNodeEvent =
  | { type: "elected" | "renewed"; tier: "region" | "global"; token: number; validUntil: number }
  | { type: "deposed"; tier: "region" | "global"; token: number; reason: string }
  | LesseeEvent;

export interface QNodeOptions {
  id: string;
  region: string;
  regions: ScopeRegion[];
  regionalStore: LeaseStore;
  quorumStores: LeaseStore[];
  regionStore: (region: string) => Promise<LeaseStore>;
  /** The process's clock (a ProcessClock in the simulation, SimulatedClock in unit tests). */
  clock: Clock;
  random: () => number;
  wallNow: () => number;
  leases: { region: number; global: number; scope: number };
  maxDrift: number;
  failbackAfterMs: number;
  lesseeRules?: Partial<ScopeQuorumRules>;
  authorityRules?: Partial<ScopeQuorumRules>;
}

export class QuorumScopeNode {
  readonly regional: Election;
  readonly global: QuorumElection;
  readonly authority: QuorumScopeAuthority;
  lessee: QuorumScopeLessee | null = null;
  private readonly listeners = new Set<(e: QNodeEvent) => void>();
  private readonly tried = new Map<string, number>();
  private readonly scopeTiming;

  constructor(private readonly o: QNodeOptions) {
    const sim = { now: () => o.clock.now(), clock: o.clock, random: o.random, wallNow: o.wallNow };
    this.scopeTiming = resolveTiming({ leaseMs: o.leases.scope, maxDrift: o.maxDrift });
    this.regional = startElection({ store: o.regionalStore, key: REGIONAL_KEY, id: o.id, leaseMs: o.leases.region, maxDrift: o.maxDrift, simulation: sim });
    this.global = startQuorumElection({ stores: o.quorumStores, key: GLOBAL_KEY, id: o.id, leaseMs: o.leases.global, maxDrift: o.maxDrift, simulation: sim, candidate: false });
    this.authority = new QuorumScopeAuthority({
      stores: o.quorumStores, regionStore: o.regionStore, regionalKey: REGIONAL_KEY, regions: o.regions, timing: this.scopeTiming,
      failbackAfterMs: o.failbackAfterMs, cluster: "sim", node: o.id, globalToken: () => this.globalRole()?.token ?? null,
      clock: o.clock, random: o.random, log: silentLogger(), ...(o.authorityRules ? { rules: o.authorityRules } : {}),
    });
    this.authority.start();
    this.regional.on((e) => {
      if (e.type === "elected") {
        this.emit({ type: "elected", tier: "region", token: e.token, validUntil: e.validUntil });
        this.startLessee();
        this.global.setCandidate(true);
      } else if (e.type === "renewed") this.emit({ type: "renewed", tier: "region", token: e.token, validUntil: e.validUntil });
      else if (e.type === "deposed") {
        this.stopUpper();
        this.emit({ type: "deposed", tier: "region", token: e.token, reason: e.reason });
      }
    });
    this.global.on((e) => {
      if (e.type === "elected") {
        this.emit({ type: "elected", tier: "global", token: e.token, validUntil: Math.min(e.validUntil, this.regionalDeadline()) });
        this.authority.empower();
      } else if (e.type === "renewed") this.emit({ type: "renewed", tier: "global", token: e.token, validUntil: Math.min(e.validUntil, this.regionalDeadline()) });
      else if (e.type === "deposed") {
        this.authority.disempower();
        this.emit({ type: "deposed", tier: "global", token: e.token, reason: e.reason });
      }
    });
  }

  on(l: (e: QNodeEvent) => void): void {
    this.listeners.add(l);
  }

  regionalDeadline(): number {
    return this.regional.leadership()?.validUntil ?? 0;
  }

  /** The global role, capped by the regional one (null when not held). */
  globalRole(): { token: number; validUntil: number } | null {
    const g = this.global.leadership();
    const r = this.regional.leadership();
    return g && r ? { token: g.token, validUntil: Math.min(g.validUntil, r.validUntil) } : null;
  }

  scopeHeld(scope: string): boolean {
    return this.lessee?.term(scope) != null;
  }

  private emit(e: QNodeEvent): void {
    for (const l of this.listeners) l(e);
  }

  private startLessee(): void {
    const o = this.o;
    const l = new QuorumScopeLessee({
      stores: o.quorumStores, scopes: o.regions.map((r) => r.name), region: o.region, node: o.id, cluster: "sim", timing: this.scopeTiming,
      clock: o.clock, random: o.random, regionalDeadline: () => this.regionalDeadline(), log: silentLogger(), emit: (e) => this.emit(e), tried: this.tried,
      ...(o.lesseeRules ? { rules: o.lesseeRules } : {}),
    });
    this.lessee = l;
    l.start();
  }

  /** Same step as the regional loss: scope terms and the global term end before anything else runs. */
  private stopUpper(): void {
    const l = this.lessee;
    this.lessee = null;
    void l?.stop("region-lost");
    // Its `deposed` goes out synchronously, which disempowers the authority.
    this.global.setCandidate(false);
  }
}
