/**
 * The lease authority's view of the regions (docs/scopes.md, "The
 * authority"): each region's regional lease is polled on its own, so an
 * unreachable region never delays the view of the others; a region is live
 * when its leader was seen renewing within its lease, healthy when renewing on
 * schedule. The same rules as `authority.ts` (the single-bucket authority,
 * left untouched while other work goes on there), for the quorum authority.
 */
import { viewOf } from "../lease/record.js";
import type { Timing } from "../election/timing.js";
import type { ScopeRegion } from "./types.js";
import { authorityRoundMs, type PlacementView } from "./placement.js";
import type { LeaseStore } from "../lease/store.js";
import { deadlineSignal } from "../util/timers.js";
import { ConfigError } from "../errors.js";
import type { Clock } from "../util/clock.js";

interface RegionState {
  revision: number;
  since: number;
  leader: string | null;
  changed: boolean;
  liveSince: number | null;
  lastLiveAt: number;
  renewMs: number;
  leaseMs: number;
}

export interface RegionWatchOptions {
  regions: ScopeRegion[];
  /**
   * A region's regional lease store, or its stores when the region elects on
   * a quorum of them (full mode: one R1 bucket per server, docs/quorum.md).
   * Each store is polled on its own; the region is live while any of them
   * shows its leader renewing, so one dead server does not make it look down.
   */
  regionStore: (region: string) => Promise<LeaseStore | LeaseStore[]>;
  regionalKey: string;
  /** Scope timing: the poll period is a third of its renew interval. */
  timing: Timing;
  failbackAfterMs: number;
  clock: Clock;
  /** How many stores each region has (default 1); a region's quorum stores are polled one loop each. */
  storesPerRegion?: (region: string) => number;
}

export class RegionWatch implements PlacementView {
  /** Per region, one state per store it elects on. */
  private readonly st = new Map<string, RegionState[]>();
  private readonly lastLive = new Map<string, number>();
  private readonly timers = new Set<unknown>();
  private readonly ac = new AbortController();
  private startedAt = 0;

  private readonly regions: ScopeRegion[];
  /** Reads a region's regional lease stores (`RegionWatchOptions.regionStore`), and how many it has. */
  private readonly regionStore: RegionWatchOptions["regionStore"];
  private readonly storesPerRegion: RegionWatchOptions["storesPerRegion"];
  private readonly regionalKey: string;
  private readonly timing: Timing;
  /** How long a home region must be healthy before its scope fails back. */
  private readonly failbackWaitMs: number;
  private readonly clock: Clock;

  constructor(opts: RegionWatchOptions) {
    ({ regions: this.regions, regionStore: this.regionStore, storesPerRegion: this.storesPerRegion, regionalKey: this.regionalKey } = opts);
    ({ timing: this.timing, failbackAfterMs: this.failbackWaitMs, clock: this.clock } = opts);
  }

  start(): void {
    const now = this.clock.now();
    this.startedAt = now;
    for (const r of this.regions) {
      const n = Math.max(1, this.storesPerRegion?.(r.name) ?? 1);
      const states = Array.from({ length: n }, (): RegionState => ({ revision: -1, since: now, leader: null, changed: false, liveSince: null, renewMs: r.leaseMs / 3, leaseMs: 0, lastLiveAt: Number.NEGATIVE_INFINITY }));
      this.st.set(r.name, states);
      this.lastLive.set(r.name, Number.NEGATIVE_INFINITY);
      states.forEach((st, i) => void this.poll(r, st, i));
    }
  }

  stop(): void {
    this.ac.abort();
    for (const t of this.timers) this.clock.clearTimeout(t);
  }

  roundMs(): number {
    return authorityRoundMs(this.timing.renewMs);
  }

  live(region: string): boolean {
    return (this.st.get(region) ?? []).some((st) => this.liveOn(region, st));
  }

  leader(region: string): string | null {
    const sts = this.st.get(region) ?? [];
    // The leader a live store shows, the most recently changed first.
    const live = sts.filter((st) => this.liveOn(region, st)).sort((a, b) => b.since - a.since);
    return (live[0] ?? sts.find((st) => st.leader !== null))?.leader ?? null;
  }

  healthyFor(region: string): number {
    this.health(region);
    const now = this.clock.now();
    const streaks = (this.st.get(region) ?? []).map((st) => (st.liveSince === null ? -1 : now - st.liveSince));
    return streaks.length ? Math.max(...streaks) : -1;
  }

  presumedDown(region: string): boolean {
    const sts = this.st.get(region);
    const spec = this.spec(region);
    if (!sts || !spec) return true;
    const now = this.clock.now();
    if (this.live(region)) this.lastLive.set(region, now);
    const lease = Math.max(spec.leaseMs, ...sts.map((st) => st.leaseMs));
    return now - Math.max(this.lastLive.get(region) ?? Number.NEGATIVE_INFINITY, this.startedAt) >= lease;
  }

  failbackAfterMs(): number {
    return this.failbackWaitMs;
  }

  private liveOn(region: string, st: RegionState): boolean {
    const spec = this.spec(region);
    return !!spec && st.leader !== null && st.changed && this.clock.now() - st.since < Math.max(spec.leaseMs, st.leaseMs);
  }

  private spec(region: string): ScopeRegion | undefined {
    return this.regions.find((x) => x.name === region);
  }

  private async poll(spec: ScopeRegion, st: RegionState, index: number): Promise<void> {
    while (!this.ac.signal.aborted) {
      try {
        const stores = await this.regionStore(spec.name);
        const store = Array.isArray(stores) ? stores[index] : index === 0 ? stores : undefined;
        if (!store) throw new ConfigError("stores", `region ${spec.name} has no store ${index}`, { named: true });
        const d = deadlineSignal(this.ac.signal, this.timing.attemptMs, this.clock);
        const entry = await store.get(this.regionalKey, { signal: d.signal }).finally(() => d.clear());
        const v = viewOf(entry);
        // Observed when the answer arrived, never earlier.
        const now = this.clock.now();
        if (v.revision !== st.revision) {
          // A late renewal (a flap) restarts the healthy streak failback waits for.
          if (st.revision !== -1 && now - st.since > this.gapLimit(st)) st.liveSince = null;
          st.changed = st.revision !== -1;
          st.revision = v.revision;
          st.since = now;
        }
        st.leader = v.state === "held" ? v.holder : null;
        if (v.state === "held") {
          st.renewMs = v.record.renewMs;
          st.leaseMs = v.record.leaseMs;
        }
      } catch {
        /* unreachable: its age grows until it is no longer live */
      }
      this.health(spec.name);
      await new Promise((r) => {
        const t = this.clock.setTimeout(() => {
          this.timers.delete(t);
          r(undefined);
        }, this.roundMs());
        this.timers.add(t);
      });
    }
  }

  private health(region: string): void {
    const now = this.clock.now();
    if (this.live(region)) this.lastLive.set(region, now);
    for (const st of this.st.get(region) ?? []) {
      if (!this.liveOn(region, st) || now - st.since > this.gapLimit(st)) st.liveSince = null;
      else if (st.liveSince === null) st.liveSince = now;
    }
  }

  private gapLimit(st: RegionState): number {
    return 1.5 * st.renewMs + this.roundMs();
  }
}
