/**
 * The lease authority: runs on the global leader only (invoked under
 * `globalLeader` in the actor tree) and is the only writer of scope
 * assignments. It watches every region's regional lease to know which regions
 * have a live leader, and every scope lease to know whether its lessee renews.
 *
 * Rules (docs/scopes.md argues them):
 * - a scope is granted only to the current leader of a region with a *live*
 *   regional lease (one seen renewing within its lease);
 * - a held scope is taken away only after the lessee released it, or after
 *   the authority itself watched its revision unchanged for a full scope
 *   lease — so a new authority never disturbs healthy lessees;
 * - moves (failback, manual) recall first and grant only after the release;
 * - failback needs the home region healthy for `failbackAfterMs`, and at
 *   least `failbackAfterMs` since the scope last moved (anti-flap).
 */
import type { Timing } from "../election/timing.js";
import { viewOf } from "../lease/record.js";
import type { LeaseStore, StoreEntry } from "../lease/store.js";
import type { Logger } from "../observability/logger.js";
import type { ScopeEvent } from "../wire/events.js";
import type { ScopeClock } from "./lessee.js";
import { SCOPE_FILTER, encodeScope, scopeKey, scopeLeaseToWait, scopeOfKey, scopeViewOf, type ScopeRecord, type ScopeView } from "./record.js";
import { sleep } from "../util/timers.js";
import { authorityRoundMs, chooseTarget, type PlacementView, type Target } from "./placement.js";

export interface ScopeRegion {
  name: string;
  failover: string[];
  leaseMs: number;
}

export interface AuthorityOptions {
  store: LeaseStore;
  /** Each region's lease store (may reject while the region is down). */
  regionStore: (region: string) => Promise<LeaseStore>;
  regionalKey: string;
  regions: ScopeRegion[];
  timing: Timing;
  failbackAfterMs: number;
  cluster: string;
  /** This node, and its current global token (null when no longer global leader). */
  node: string;
  globalToken: () => number | null;
  clock: ScopeClock;
  log: Logger;
  publish?: (e: ScopeEvent) => void;
}

interface Observed {
  revision: number;
  since: number;
}
interface RegionState extends Observed {
  leader: string | null;
  changed: boolean;
  /** Start of the current healthy streak: live, and renewing on schedule. */
  liveSince: number | null;
  /** Last time the region was seen live. */
  lastLiveAt: number;
  renewMs: number;
  /** The regional lease in the leader's record (0 until seen): configs may differ from the topology's. */
  leaseMs: number;
}

interface Pending {
  to: string;
  reason: "failback" | "manual";
  done: ((r: MoveResult) => void)[];
  fail: ((e: Error) => void)[];
}

/** Result of a move request. */
export interface MoveResult {
  scope: string;
  region: string;
  node: string;
  token: number;
}

export class ScopeAuthority {
  private readonly regions = new Map<string, RegionState>();
  private readonly scopes = new Map<string, Observed & { view: ScopeView }>();
  private readonly pending = new Map<string, Pending>();
  private readonly lastMove = new Map<string, number>();
  private readonly ac = new AbortController();
  private timer: unknown;
  private ticking = false;
  private readonly pollTimers: Record<string, unknown> = {};
  private again = false;
  /** Scope moves between regions, for metrics and logs. */
  moves = 0;

  constructor(private readonly o: AuthorityOptions) {}

  private startedAt = 0;

  start(): void {
    this.startedAt = this.o.clock.now();
    for (const r of this.o.regions) this.regions.set(r.name, { revision: -1, since: this.o.clock.now(), leader: null, changed: false, liveSince: null, renewMs: r.leaseMs / 3, leaseMs: 0, lastLiveAt: Number.NEGATIVE_INFINITY });
    for (const r of this.o.regions) void this.pollRegion(r);
    this.schedule(0);
    void this.watchScopes();
  }

  /** Releases and confirmations should be acted on at once, not at the next round: hand-over in milliseconds. */
  private async watchScopes(): Promise<void> {
    while (!this.ac.signal.aborted) {
      try {
        for await (const e of this.o.store.watch(SCOPE_FILTER, { signal: this.ac.signal })) {
          const known = this.scopes.get(scopeOfKey(e.key));
          if (!known || e.revision > known.revision) this.schedule(0);
        }
      } catch {
        /* polling continues; watch again below */
      }
      if (!this.ac.signal.aborted) await sleep(this.o.timing.retryMs * 4, this.ac.signal, this.o.clock);
    }
  }

  stop(): void {
    this.ac.abort();
    this.o.clock.clearTimeout(this.timer);
    for (const t of Object.values(this.pollTimers)) this.o.clock.clearTimeout(t);
    for (const scope of [...this.pending.keys()]) this.abandon(scope, "no longer the lease authority");
  }

  /** Region has a leader seen renewing within its lease. */
  live(region: string): boolean {
    const r = this.regions.get(region);
    const spec = this.o.regions.find((x) => x.name === region);
    return !!r && !!spec && r.leader !== null && r.changed && this.o.clock.now() - r.since < this.regionLeaseMs(spec, r);
  }

  /**
   * A region's lease: the longer of the topology's and the one its leader's
   * record carries, so a region in the middle of a rolling lease change is
   * judged by the more patient of its configs.
   */
  private regionLeaseMs(spec: ScopeRegion, st: RegionState): number {
    return Math.max(spec.leaseMs, st.leaseMs);
  }

  /** Asks for `scope` to move to `to` (recall, then grant). Resolves once granted there. */
  async move(scope: string, to: string, reason: "failback" | "manual"): Promise<MoveResult> {
    if (!this.o.regions.some((r) => r.name === scope)) throw new Error(`unknown scope ${scope}`);
    if (!this.o.regions.some((r) => r.name === to)) throw new Error(`unknown region ${to}`);
    // A new authority calls a region live only after it has seen that
    // region's leader renew (up to a regional lease): a move asked for in
    // that window waits for the verdict instead of being refused.
    while (!this.live(to) && !this.presumedDown(to) && !this.ac.signal.aborted) {
      await sleep(this.roundMs(), this.ac.signal, this.o.clock);
    }
    if (this.ac.signal.aborted) throw new Error("no longer the lease authority");
    if (!this.live(to)) throw new Error(`region ${to} has no live regional leader`);
    const v = this.scopes.get(scope)?.view;
    const settled = reason !== "manual" || to === scope || (v?.state === "held" && !!v.record.pinned);
    if (v && v.state === "held" && v.record.region === to && !v.record.recall && settled) {
      return { scope, region: to, node: v.record.node, token: v.token };
    }
    return new Promise((resolve, reject) => {
      const p = this.pending.get(scope);
      if (p && p.to === to) {
        p.done.push(resolve);
        p.fail.push(reject);
      } else {
        if (p) this.abandon(scope, `superseded by a move to ${to}`);
        this.pending.set(scope, { to, reason, done: [resolve], fail: [reject] });
      }
      this.schedule(0);
    });
  }

  private abandon(scope: string, why: string): void {
    const p = this.pending.get(scope);
    if (!p) return;
    this.pending.delete(scope);
    this.o.log.info({ scope, to: p.to, why }, "scope move abandoned");
    for (const f of p.fail) f(new Error(`move of ${scope} to ${p.to} abandoned: ${why}`));
  }

  private schedule(ms: number): void {
    this.o.clock.clearTimeout(this.timer);
    this.timer = this.o.clock.setTimeout(() => void this.tick(), ms);
  }

  /** One round: observe everything, then act. Period: a third of the shortest renew interval. */
  private async tick(): Promise<void> {
    if (this.ac.signal.aborted) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    try {
      await this.observe();
      if (this.o.globalToken() !== null) for (const r of this.o.regions) await this.decide(r);
    } catch (err) {
      this.o.log.debug({ err: (err as Error).message }, "authority round failed");
    } finally {
      this.ticking = false;
      const again = this.again;
      this.again = false;
      if (!this.ac.signal.aborted) this.schedule(again ? 0 : this.roundMs());
    }
  }

  /**
   * Each region is polled on its own, so an unreachable region (whose reads
   * time out) never delays the view of the others.
   */
  private async pollRegion(spec: ScopeRegion): Promise<void> {
    const st = this.regions.get(spec.name)!;
    while (!this.ac.signal.aborted) {
      try {
        const store = await this.o.regionStore(spec.name);
        const v = viewOf(await store.get(this.o.regionalKey, { signal: this.ac.signal }));
        // Observation time is when the answer arrived, never earlier: the
        // revision may have been written while the read was in flight.
        const now = this.o.clock.now();
        if (v.revision !== st.revision) {
          // A renewal that came late (a flap, a partition shorter than the
          // lease) restarts the healthy streak that failback waits for.
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
      await new Promise((r) => (this.pollTimers[spec.name] = this.o.clock.setTimeout(() => r(undefined), this.roundMs())));
    }
  }

  /** Healthy = live and renewing on schedule; updates the healthy streak. */
  private health(region: string): void {
    const st = this.regions.get(region)!;
    const now = this.o.clock.now();
    const onSchedule = now - st.since <= this.gapLimit(st);
    if (this.live(region)) st.lastLiveAt = now;
    if (!this.live(region) || !onSchedule) st.liveSince = null;
    else if (st.liveSince === null) st.liveSince = now;
  }

  private async observe(): Promise<void> {
    for (const r of this.o.regions) this.health(r.name);
    // Scopes are the regions: read them by name (listing keys through a gateway costs a second).
    await Promise.all(
      this.o.regions.map(async (r) => {
        const entry = await this.o.store.get(scopeKey(r.name), { signal: this.ac.signal });
        this.note(entry, scopeKey(r.name), this.o.clock.now());
      }),
    );
  }

  private note(entry: StoreEntry | null, key: string, now: number): void {
    const scope = scopeOfKey(key);
    const view = scopeViewOf(entry);
    const o = this.scopes.get(scope);
    if (!o || o.revision !== view.revision) this.scopes.set(scope, { revision: view.revision, since: now, view });
  }

  /** Longest renewal gap a healthy region shows here: 1.5 renew intervals plus one observation round. */
  private gapLimit(st: RegionState): number {
    return 1.5 * st.renewMs + this.roundMs();
  }

  private roundMs(): number {
    return authorityRoundMs(this.o.timing.renewMs);
  }

  private healthyFor(region: string): number {
    const s = this.regions.get(region)?.liveSince;
    return s === null || s === undefined ? -1 : this.o.clock.now() - s;
  }

  /** Where `scope` should go now (src/scopes/placement.ts); a pending move comes first. */
  private target(spec: ScopeRegion, current: string | null, exclude: string | null, pinned = false): Target | null {
    const p = this.pending.get(spec.name);
    if (p && this.live(p.to) && this.regions.get(p.to)!.leader !== exclude) {
      return { region: p.to, reason: p.reason, pinned: p.reason === "manual" && p.to !== spec.name };
    }
    if (p) this.abandon(spec.name, `region ${p.to} has no live leader`);
    return chooseTarget(this.placement, spec, current, exclude, pinned);
  }

  private readonly placement: PlacementView = {
    live: (r) => this.live(r),
    leader: (r) => this.regions.get(r)?.leader ?? null,
    healthyFor: (r) => this.healthyFor(r),
    presumedDown: (r) => this.presumedDown(r),
    failbackAfterMs: () => this.o.failbackAfterMs,
  };

  /** No live leader seen in `region` for a full regional lease (of our own watching). */
  private presumedDown(region: string): boolean {
    const st = this.regions.get(region);
    const spec = this.o.regions.find((r) => r.name === region);
    if (!st || !spec) return true;
    return this.o.clock.now() - Math.max(st.lastLiveAt, this.startedAt) >= this.regionLeaseMs(spec, st);
  }

  private async decide(spec: ScopeRegion): Promise<void> {
    const scope = spec.name;
    const o = this.scopes.get(scope);
    if (!o) return;
    const v = o.view;
    // A full lease of watching: ours, or the record writer's if longer (mixed configs).
    const stale = this.o.clock.now() - o.since >= scopeLeaseToWait(v, this.o.timing.leaseMs);
    if (v.state === "vacant") return this.grant(spec, o, null, this.target(spec, null, null));
    if (v.state === "released") return this.grant(spec, o, v.record, this.target(spec, v.record.region, null, !!v.record.pinned));
    if (v.state === "unknown") {
      if (stale) return this.grant(spec, o, null, this.target(spec, null, null));
      return;
    }
    const rec = v.record;
    if (stale) {
      // Not renewed for a full lease, as watched here: the lessee's validity is over.
      this.o.publish?.({ v: 1, kind: "lapsed", cluster: this.o.cluster, scope, region: rec.region, node: rec.node, token: v.token, at: Date.now() });
      return this.grant(spec, o, rec, this.target(spec, rec.region, rec.node, !!rec.pinned));
    }
    if (v.state !== "held" || rec.recall) return;
    let p = this.pending.get(scope);
    if (p && !this.live(p.to)) {
      this.abandon(scope, `region ${p.to} has no live leader`);
      p = undefined;
    }
    // Done once held there, and pinned there when the move was a manual one away from home.
    if (p && p.to === rec.region && (p.reason !== "manual" || p.to === scope || rec.pinned)) return this.resolvePending(scope, rec.region, rec.node, v.token);
    const wantBack =
      !rec.pinned &&
      rec.region !== spec.name &&
      this.live(spec.name) &&
      this.healthyFor(spec.name) >= this.o.failbackAfterMs &&
      this.o.clock.now() - (this.lastMove.get(scope) ?? Number.NEGATIVE_INFINITY) >= this.o.failbackAfterMs;
    if (p || wantBack) {
      if (!p) this.pending.set(scope, { to: spec.name, reason: "failback", done: [], fail: [] });
      const recall = this.pending.get(scope)!.reason;
      // The recall keeps the held revision's "unchanged since": the lessee
      // cannot write after it except to release, so its last write was seen
      // no later than that. Restarting the wait would leave a scope whose
      // lessee died unheld for a second lease.
      await this.write(scope, o, { ...rec, recall }, `recall (${recall})`, o.since);
    }
  }

  private async grant(spec: ScopeRegion, o: Observed & { view: ScopeView }, prev: ScopeRecord | null, t: Target | null): Promise<void> {
    const token = this.o.globalToken();
    if (!t || token === null) return;
    const node = this.regions.get(t.region)!.leader!;
    const prevToken = o.view.state === "vacant" || o.view.state === "unknown" ? 0 : o.view.token;
    const rec: ScopeRecord = {
      v: 1,
      scope: spec.name,
      home: spec.name,
      region: t.region,
      node,
      state: "granted",
      token: 0,
      leaseMs: this.o.timing.leaseMs,
      renewMs: this.o.timing.renewMs,
      reason: t.reason,
      grantedBy: { node: this.o.node, token },
      grantedAt: Date.now(),
      renewedAt: Date.now(),
      ...(prev ? { from: { region: prev.region, node: prev.node, token: prevToken } } : {}),
      ...(t.pinned ? { pinned: "manual" as const } : {}),
    };
    const rev = await this.write(spec.name, o, rec, `grant to ${t.region}/${node} (${t.reason})`);
    if (rev === null) return;
    if (!prev || prev.region !== t.region) {
      this.moves++;
      this.lastMove.set(spec.name, this.o.clock.now());
      this.o.log.info({ scope: spec.name, from: prev?.region ?? null, to: t.region, reason: t.reason, moves: this.moves }, "scope moved");
    }
    this.o.publish?.({
      v: 1,
      kind: "granted",
      cluster: this.o.cluster,
      scope: spec.name,
      region: t.region,
      node,
      token: rev,
      reason: t.reason,
      from: rec.from ?? null,
      at: Date.now(),
    });
  }

  private resolvePending(scope: string, region: string, node: string, token: number): void {
    const p = this.pending.get(scope);
    this.pending.delete(scope);
    for (const done of p?.done ?? []) done({ scope, region, node, token });
  }

  /** CAS write on the observed revision; returns the new revision, or null when it lost. */
  private async write(scope: string, o: Observed & { view: ScopeView }, rec: ScopeRecord, what: string, since?: number): Promise<number | null> {
    if (this.o.globalToken() === null) return null;
    try {
      const value = encodeScope(rec);
      const rev = o.view.state === "vacant" ? await this.o.store.create(scopeKey(scope), value) : await this.o.store.update(scopeKey(scope), value, o.revision);
      this.o.log.debug({ scope, what, revision: rev }, "authority wrote");
      this.scopes.set(scope, { revision: rev, since: since ?? this.o.clock.now(), view: scopeViewOf({ key: scopeKey(scope), revision: rev, operation: "put", value }) });
      return rev;
    } catch (err) {
      this.o.log.debug({ scope, what, err: (err as Error).message }, "authority write lost");
      return null;
    }
  }
}
