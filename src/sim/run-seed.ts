/**
 * One seeded simulation run: a fault phase (crashes and restarts, pauses
 * beyond the lease, store outages of 4–8 s, lost buckets, region partitions, failed and
 * lost operations, dropped watch events, clock drift within the bound), then
 * a quiet phase in which a leader must appear within a bound. Every lease's
 * intervals go through the split-brain oracle; the hierarchy rules are checked
 * on the intervals too.
 */
import { checkIntervals, type LeadershipInterval } from "../observability/oracle.js";
import { SimScheduler } from "./scheduler.js";
import { SimWorld, type Mutation, type WorldConfig } from "./world.js";

export interface SeedOptions {
  mutation?: Mutation;
  /** Length of the fault phase, simulated ms. */
  faultMs?: number;
  /** Quiet phase: a full set of leaders must exist within this bound after the faults. */
  livenessMs?: number;
}

export interface SeedResult {
  seed: number;
  ok: boolean;
  violations: string[];
  /** Simulated ms after the last fault until every leader and scope holder existed (-1: never). */
  recoveredAfterMs: number;
  events: number;
  trace: string[];
}

/** mulberry32: small, fast, good enough for scheduling decisions. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const DEFAULT_CONFIG: Omit<WorldConfig, "mutation"> = {
  regions: [
    { name: "eu", failover: ["us", "ap"] },
    { name: "us", failover: ["eu", "ap"] },
    { name: "ap", failover: ["eu", "us"] },
  ],
  nodesPerRegion: 2,
  regionLeaseMs: 2000,
  globalLeaseMs: 3000,
  scopeLeaseMs: 3000,
  failbackAfterMs: 4000,
  maxDrift: 0.01,
};

/** Hierarchy rules on intervals: a global or scope term lies inside a regional term of the same holder. */
function nested(intervals: LeadershipInterval[], regionOf: (holder: string) => string): string[] {
  const out: string[] = [];
  for (const i of intervals) {
    if (i.lease.startsWith("region/")) continue;
    const region = regionOf(i.holder);
    const inside = intervals.some((r) => r.lease === `region/${region}` && r.holder === i.holder && r.start <= i.start + 1e-6 && r.end + 1e-6 >= i.end);
    if (!inside) out.push(`${i.lease} term of ${i.holder} (token ${i.token}, ${i.start.toFixed(1)}–${i.end.toFixed(1)}) outside any regional term of it`);
  }
  return out;
}

export async function runSeed(seed: number, opts: SeedOptions = {}): Promise<SeedResult> {
  const random = prng(seed);
  const sched = new SimScheduler();
  const cfg: WorldConfig = { ...DEFAULT_CONFIG, mutation: opts.mutation ?? "none" };
  const w = new SimWorld(sched, random, cfg);
  const faultMs = opts.faultMs ?? 30_000;
  const livenessMs = opts.livenessMs ?? 30_000;
  const lease = Math.max(cfg.regionLeaseMs, cfg.globalLeaseMs, cfg.scopeLeaseMs);
  for (const r of cfg.regions) for (let i = 1; i <= cfg.nodesPerRegion; i++) w.spawn(r.name, `${r.name}-${i}`);

  const start = sched.now();
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  const pending: Promise<void>[] = [];
  let t = start + 3000 + random() * 2000; // let the first leaders settle
  let lastFaultEnd = start;
  // Plan faults up front from the seed, then let the scheduler play them.
  while (t < start + faultMs) {
    const kind = random();
    const at = t;
    if (kind < 0.3) {
      const downFor = 500 + random() * 4000;
      sched.setTimeout(() => {
        const victims = w.alive();
        if (!victims.length) return;
        const p = pick(victims);
        w.crash(p);
        sched.setTimeout(() => w.spawn(p.region, p.id, p.incarnation + 1), downFor);
      }, at - sched.now());
      lastFaultEnd = Math.max(lastFaultEnd, at + downFor);
    } else if (kind < 0.5) {
      const pauseFor = (0.3 + random() * 2.2) * lease;
      sched.setTimeout(() => {
        const p = pick(w.alive());
        p.clock.pause();
        w.log(`${p.id} PAUSED for ${pauseFor.toFixed(0)} ms`);
        sched.setTimeout(() => {
          p.clock.resume();
          w.log(`${p.id} resumed`);
        }, pauseFor);
      }, at - sched.now());
      lastFaultEnd = Math.max(lastFaultEnd, at + pauseFor);
    } else if (kind < 0.75) {
      const store = pick([...w.stores.keys()]);
      // One in five outages is a lost bucket: deleted, then recovered as
      // NatsLeaseStore recovers it (memory-store `loseBucket`), after a short
      // gap, so holders of the lost bucket are often still valid when it is back.
      const lost = kind < 0.55;
      const outage = (4000 + random() * 4000) / (lost ? 8 : 1);
      sched.setTimeout(() => {
        w.net.storesDown.add(store);
        if (lost) w.log(`store ${store} bucket LOST (recreated at genesis revision ${w.stores.get(store)!.loseBucket({ genesis: cfg.mutation !== "no-genesis-wait" })}), down ${outage.toFixed(0)} ms`);
        else w.log(`store ${store} OUTAGE ${outage.toFixed(0)} ms`);
        w.kick();
        sched.setTimeout(() => {
          w.net.storesDown.delete(store);
          w.log(`store ${store} back`);
          w.kick();
        }, outage);
      }, at - sched.now());
      lastFaultEnd = Math.max(lastFaultEnd, at + outage);
    } else if (kind < 0.85) {
      // One process's link degrades (slow replies), often then breaks: the
      // pattern that punishes counting validity from the reply.
      const slowFor = 2000 + random() * 6000;
      const thenCut = random() < 0.7 ? 1000 + random() * 6000 : 0;
      sched.setTimeout(() => {
        const victims = w.alive();
        if (!victims.length) return;
        const p = pick(victims);
        w.net.slow.add(p.id);
        w.log(`${p.id} link DEGRADED ${slowFor.toFixed(0)} ms${thenCut ? `, then cut ${thenCut.toFixed(0)} ms` : ""}`);
        sched.setTimeout(() => {
          w.net.slow.delete(p.id);
          if (thenCut) w.net.isolated.add(p.id);
          w.kick();
          sched.setTimeout(() => {
            w.net.isolated.delete(p.id);
            w.kick();
          }, thenCut);
        }, slowFor);
      }, at - sched.now());
      lastFaultEnd = Math.max(lastFaultEnd, at + slowFor + thenCut);
    } else {
      const region = pick(cfg.regions).name;
      const cut = 1000 + random() * 9000;
      sched.setTimeout(() => {
        w.net.partitioned.add(region);
        w.log(`region ${region} PARTITIONED ${cut.toFixed(0)} ms`);
        w.kick();
        sched.setTimeout(() => {
          w.net.partitioned.delete(region);
          w.log(`region ${region} healed`);
          w.kick();
        }, cut);
      }, at - sched.now());
      lastFaultEnd = Math.max(lastFaultEnd, at + cut);
    }
    t += 500 + random() * 3500;
  }
  void pending;

  await sched.runUntil(lastFaultEnd + 1);
  w.net.failRate = 0;
  w.net.lostReplyRate = 0;
  w.log("faults over");
  // Liveness: every region led, a global leader, every scope held (by a live process).
  const complete = () => {
    const alive = w.alive();
    const regional = cfg.regions.every((r) => alive.some((p) => p.region === r.name && p.node.regional().held));
    const global = alive.some((p) => p.node.global().held);
    const scopes = cfg.regions.every((r) => alive.some((p) => p.node.scope(r.name).held));
    return regional && global && scopes;
  };
  let recoveredAfterMs = -1;
  const quietStart = sched.now();
  for (let step = 0; step * 250 < livenessMs; step++) {
    await sched.runUntil(quietStart + (step + 1) * 250);
    if (complete()) {
      recoveredAfterMs = sched.now() - quietStart;
      break;
    }
  }
  w.finish();
  const violations = checkIntervals(w.intervals).violations.map((v) => v.message);
  violations.push(...nested(w.intervals, (h) => h.split("-")[0]!));
  if (recoveredAfterMs < 0) violations.push(`liveness: no complete set of leaders within ${livenessMs} ms after the faults`);
  // Leave nothing running: stop every node (their pending timers die with the scheduler).
  for (const p of w.procs) p.clock.crash();
  return { seed, ok: violations.length === 0, violations, recoveredAfterMs, events: sched.fired, trace: w.trace };
}
