/**
 * One seeded simulation run: a fault phase (crashes and restarts, pauses
 * beyond the lease, store outages of 4–8 s (half of them followed by stale
 * reads from a lagging new leader), lost buckets, region partitions, failed
 * and lost operations, dropped watch events, clock drift within the bound, on
 * about half the seeds mixed timing configs per process, and on about half
 * forged lease records), then a quiet phase in which a leader must appear
 * within a bound. Every lease's
 * intervals go through the split-brain oracle; the hierarchy rules are checked
 * on the intervals too.
 */
import { checkIntervals, type LeadershipInterval } from "../observability/oracle.js";
import { SimScheduler } from "./scheduler.js";
import { GLOBAL_STORES, SimWorld, type Mutation, type WorldConfig } from "./world.js";
import { ScopeLivenessCheck, planLoneSurvivor } from "./liveness.js";
import { forgeOnce } from "./forgery.js";
import { GLOBAL_KEY, REGIONAL_KEY } from "../wire/names.js";

export interface SeedOptions {
  mutation?: Mutation;
  /** Mixed timing configs per process (see WorldConfig.mixedTiming). Default: drawn per seed, on for about half of them. */
  mixedTiming?: boolean;
  /** Forged lease records during the fault phase (see forgery.ts). Default: drawn per seed, on for about half of them. */
  forgeries?: boolean;
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
  // Timing draws come from their own stream, so a seed's fault plan is the same with and without them.
  const timingRandom = prng(seed ^ 0x5bd1e995);
  const mixed = opts.mixedTiming ?? timingRandom() < 0.5;
  const cfg: WorldConfig = { ...DEFAULT_CONFIG, mutation: opts.mutation ?? "none", ...(mixed ? { mixedTiming: timingRandom } : {}) };
  const w = new SimWorld(sched, random, cfg);
  const faultMs = opts.faultMs ?? 30_000;
  const livenessMs = opts.livenessMs ?? 30_000;
  const lease = Math.max(cfg.regionLeaseMs, cfg.globalLeaseMs, cfg.scopeLeaseMs);
  if (mixed) w.log("mixed timing configs: lease ½, 1 or 2 × per process and tier");
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
      // The other global stores stay up: with faults on one store of three,
      // a lost bucket stays within Q4 (docs/quorum.md) and tokens keep rising.
      const store = pick([...w.stores.keys()].filter((n) => !GLOBAL_STORES.includes(n) || n === GLOBAL_STORES[0]));
      // One in five outages is a lost bucket: deleted, then recovered as
      // NatsLeaseStore recovers it (memory-store `loseBucket`), after a short
      // gap, so holders of the lost bucket are often still valid when it is back.
      const lost = kind < 0.55;
      const outage = (4000 + random() * 4000) / (lost ? 8 : 1);
      // Half of the other outages end with a lagging new stream leader: for a
      // while it answers from the state of up to a second before the outage
      // (stale gets, spurious conflicts), as an R3 stream-leader change can.
      const lagFor = !lost && random() < 0.5 ? 300 + random() * 1700 : 0;
      const lagBehind = random() * 1000;
      sched.setTimeout(() => {
        w.net.storesDown.add(store);
        if (lost) w.log(`store ${store} bucket LOST (recreated at genesis revision ${w.stores.get(store)!.loseBucket({ genesis: cfg.mutation !== "no-genesis-wait" })}), down ${outage.toFixed(0)} ms`);
        else w.log(`store ${store} OUTAGE ${outage.toFixed(0)} ms${lagFor ? `, then stale reads ${lagFor.toFixed(0)} ms` : ""}`);
        w.kick();
        const asOf = sched.now() - lagBehind;
        sched.setTimeout(() => {
          w.net.storesDown.delete(store);
          if (lagFor) w.net.stale?.lag(store, asOf, sched.now() + lagFor);
          w.log(`store ${store} back`);
          w.kick();
        }, outage);
      }, at - sched.now());
      lastFaultEnd = Math.max(lastFaultEnd, at + outage + lagFor);
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
  // A third of the seeds end with the lone-survivor fault (src/sim/liveness.ts).
  // Its own generator: the seeds without it run exactly as before it existed.
  const tail = prng(seed ^ 0x5ca1ab1e);
  if (tail() < 1 / 3) lastFaultEnd = planLoneSurvivor(w, lastFaultEnd, tail);
  // Forgeries from their own stream too: a seed's other faults stay the same.
  const forgeRandom = prng(seed ^ 0x2f6b1a3c);
  if (opts.forgeries ?? forgeRandom() < 0.5) {
    const n = 1 + Math.floor(forgeRandom() * 4);
    for (let i = 0; i < n; i++) {
      const at = start + 3000 + forgeRandom() * (faultMs - 3000);
      const target = Math.floor(forgeRandom() * (cfg.regions.length + 1));
      const store = target < cfg.regions.length ? w.stores.get(cfg.regions[target]!.name)! : w.stores.get("global")!;
      const key = target < cfg.regions.length ? REGIONAL_KEY : GLOBAL_KEY;
      const r = prng(Math.floor(forgeRandom() * 2 ** 32));
      // A second forgery on the same key shortly after: the forger's own term, then its release.
      const again = forgeRandom() < 0.5 ? 50 + forgeRandom() * 1500 : -1;
      const forge = () => {
        const what = forgeOnce(store, key, r);
        if (what) w.log(what.toUpperCase());
      };
      sched.setTimeout(forge, at - sched.now());
      if (again >= 0) sched.setTimeout(forge, at + again - sched.now());
      lastFaultEnd = Math.max(lastFaultEnd, at + Math.max(0, again));
    }
  }

  await sched.runUntil(lastFaultEnd + 1);
  w.net.failRate = 0;
  w.net.lostReplyRate = 0;
  w.log("faults over");
  // Liveness: every region led (but those still partitioned), a global leader, every scope held (by a live process).
  const complete = () => {
    const alive = w.alive();
    const up = cfg.regions.filter((r) => !w.net.partitioned.has(r.name));
    const regional = up.every((r) => alive.some((p) => p.region === r.name && p.node.regional().held));
    const global = alive.some((p) => p.node.global().held);
    const scopes = cfg.regions.every((r) => alive.some((p) => p.node.scope(r.name).held));
    return regional && global && scopes;
  };
  let recoveredAfterMs = -1;
  const quietStart = sched.now();
  const scopeCheck = new ScopeLivenessCheck(w, quietStart);
  for (let step = 0; step * 100 < livenessMs; step++) {
    await sched.runUntil(quietStart + (step + 1) * 100);
    scopeCheck.sample();
    if (complete()) {
      recoveredAfterMs = sched.now() - quietStart;
      break;
    }
  }
  w.finish();
  const violations = checkIntervals(w.intervals).violations.map((v) => v.message);
  violations.push(...nested(w.intervals, (h) => h.split("-")[0]!));
  violations.push(...scopeCheck.violations);
  if (recoveredAfterMs < 0) violations.push(`liveness: no complete set of leaders within ${livenessMs} ms after the faults`);
  // Leave nothing running: stop every node (their pending timers die with the scheduler).
  for (const p of w.procs) p.clock.crash();
  return { seed, ok: violations.length === 0, violations, recoveredAfterMs, events: sched.fired, trace: w.trace };
}
