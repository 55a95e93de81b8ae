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
import type { ScopeClock } from "./lessee.js";
import type { ScopeRegion } from "./authority.js";
import { authorityRoundMs, type PlacementView } from "./placement.js";
import type { LeaseStore } from "../lease/store.js";
import { deadlineSignal } from "../util/timers.js";

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
  regionStore: (region: string) => Promise<LeaseStore>;
  regionalKey: string;
  /** Scope timing: the poll period is a third of its renew interval. */
  timing: Timing;
  failbackAfterMs: number;
  clock: ScopeClock;
}

export class RegionWatch implements PlacementView {
  private readonly st = new Map<string, RegionState>();
  private readonly timers = new Map<string, unknown>();
  private readonly ac = new AbortController();
  private startedAt = 0;

  constructor(private readonly o: RegionWatchOptions) {}

  start(): void {
    const now = this.o.clock.now();
    this.startedAt = now;
    for (const r of this.o.regions) {
      this.st.set(r.name, { revision: -1, since: now, leader: null, changed: false, liveSince: null, renewMs: r.leaseMs / 3, leaseMs: 0, lastLiveAt: Number.NEGATIVE_INFINITY });
      void this.poll(r);
    }
  }

  stop(): void {
    this.ac.abort();
    for (const t of this.timers.values()) this.o.clock.clearTimeout(t);
  }

  roundMs(): number {
    return authorityRoundMs(this.o.timing.renewMs);
  }

  live(region: string): boolean {
    const r = this.st.get(region);
    const spec = this.spec(region);
    return !!r && !!spec && r.leader !== null && r.changed && this.o.clock.now() - r.since < Math.max(spec.leaseMs, r.leaseMs);
  }

  leader(region: string): string | null {
    return this.st.get(region)?.leader ?? null;
  }

  healthyFor(region: string): number {
    this.health(region);
    const s = this.st.get(region)?.liveSince;
    return s === null || s === undefined ? -1 : this.o.clock.now() - s;
  }

  presumedDown(region: string): boolean {
    const st = this.st.get(region);
    const spec = this.spec(region);
    if (!st || !spec) return true;
    if (this.live(region)) st.lastLiveAt = this.o.clock.now();
    return this.o.clock.now() - Math.max(st.lastLiveAt, this.startedAt) >= Math.max(spec.leaseMs, st.leaseMs);
  }

  failbackAfterMs(): number {
    return this.o.failbackAfterMs;
  }

  private spec(region: string): ScopeRegion | undefined {
    return this.o.regions.find((x) => x.name === region);
  }

  private async poll(spec: ScopeRegion): Promise<void> {
    const st = this.st.get(spec.name)!;
    while (!this.ac.signal.aborted) {
      try {
        const store = await this.o.regionStore(spec.name);
        const d = deadlineSignal(this.ac.signal, this.o.timing.attemptMs, this.o.clock);
        const entry = await store.get(this.o.regionalKey, { signal: d.signal }).finally(() => d.clear());
        const v = viewOf(entry);
        // Observed when the answer arrived, never earlier.
        const now = this.o.clock.now();
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
      await new Promise((r) => this.timers.set(spec.name, this.o.clock.setTimeout(() => r(undefined), this.roundMs())));
    }
  }

  private health(region: string): void {
    const st = this.st.get(region)!;
    const now = this.o.clock.now();
    if (this.live(region)) st.lastLiveAt = now;
    if (!this.live(region) || now - st.since > this.gapLimit(st)) st.liveSince = null;
    else if (st.liveSince === null) st.liveSince = now;
  }

  private gapLimit(st: RegionState): number {
    return 1.5 * st.renewMs + this.roundMs();
  }
}
