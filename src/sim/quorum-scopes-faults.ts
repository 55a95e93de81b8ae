/**
 * The fault menu of the quorum scope simulation (quorum-scopes-run.ts), and
 * its nesting check. Faults are planned up front from the seed.
 */
import type { MemoryLeaseStore } from "../lease/memory-store.js";
import type { LeadershipInterval } from "../observability/oracle.js";
import type { ProcessClock } from "./process-clock.js";
import type { QuorumScopeNode } from "./quorum-scope-node.js";
import type { SimScheduler } from "./scheduler.js";
import type { SimNetwork } from "./sim-link.js";
import { degradeLinks, planFaults } from "./fault-plan.js";

/** One simulated process: a node on its own clock, restarted as a new incarnation. */
export interface QProc {
  id: string;
  region: string;
  clock: ProcessClock;
  node: QuorumScopeNode;
  incarnation: number;
}

export interface FaultEnv {
  sched: SimScheduler;
  net: SimNetwork;
  random: () => number;
  names: string[];
  rStores: Map<string, MemoryLeaseStore>;
  qStores: MemoryLeaseStore[];
  procs: QProc[];
  alive: () => QProc[];
  crash: (p: QProc) => void;
  spawn: (region: string, id: string, incarnation: number) => QProc;
  log: (l: string) => void;
  kick: () => void;
  labelOf: (id: string, store: string) => string;
  /** Q4 holds if `store` loses its newest writes now. */
  mayLose: (store: MemoryLeaseStore) => boolean;
}

/** Plans the fault phase; returns when its last fault ends. */
export function scopeFaults(e: FaultEnv, faultMs: number): number {
  const { sched, net, random, log, kick } = e;
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  const later = (at: number, fn: () => void) => sched.setTimeout(fn, at - sched.now());
  // Leaders are the interesting victims.
  const victim = () => {
    const a = e.alive();
    const lead = a.filter((p) => p.node.regional.isLeader());
    return random() < 0.6 && lead.length ? pick(lead) : a.length ? pick(a) : undefined;
  };
  /** At `at`, `fault` hits the victim chosen then (if any process is alive). */
  const atVictim = (at: number, fault: (p: QProc) => void) =>
    later(at, () => {
      const p = victim();
      if (p) fault(p);
    });
  const storeNames = [...e.rStores.values(), ...e.qStores].map((s) => s.name);
  return planFaults(sched, random, 6000, faultMs, (kind, at) => {
    let until = at;
    if (kind < 0.25) {
      // A region's quorum store down for a long time, sometimes a restart that loses its newest writes.
      const store = pick(e.qStores);
      const downFor = 1000 + random() * 14_000;
      const lose = random() < 0.4 ? (random() < 0.3 ? Number.MAX_SAFE_INTEGER : 1 + Math.floor(random() * 6)) : 0;
      later(at, () => {
        if (net.storesDown.has(store.name)) return;
        net.storesDown.add(store.name);
        const lost = lose && e.mayLose(store) ? store.loseNewestWrites(lose) : -1;
        log(`store ${store.name} ${lost >= 0 ? `RESTART losing ${lose === Number.MAX_SAFE_INTEGER ? "everything" : `${lost} writes`}` : "OUTAGE"} ${downFor.toFixed(0)} ms`);
        kick();
        sched.setTimeout(() => (net.storesDown.delete(store.name), log(`store ${store.name} back`), kick()), downFor);
      });
      until = at + downFor;
    } else if (kind < 0.32) {
      const store = pick([...e.rStores.values()]);
      const downFor = 1000 + random() * 4000;
      later(at, () => {
        if (net.storesDown.has(store.name)) return;
        net.storesDown.add(store.name);
        log(`regional store ${store.name} OUTAGE ${downFor.toFixed(0)} ms`);
        kick();
        sched.setTimeout(() => (net.storesDown.delete(store.name), log(`regional store ${store.name} back`), kick()), downFor);
      });
      until = at + downFor;
    } else if (kind < 0.55) {
      // One process cut from one store: the bare-majority case.
      const cut = 1000 + random() * 9000;
      const store = pick(e.qStores).name;
      atVictim(at, (p) => {
        const label = e.labelOf(p.id, store);
        net.partitioned.add(label);
        log(`link ${label} CUT ${cut.toFixed(0)} ms`);
        kick();
        sched.setTimeout(() => (net.partitioned.delete(label), log(`link ${label} healed`), kick()), cut);
      });
      until = at + cut;
    } else if (kind < 0.65) {
      // A region partitioned from the others (it keeps its own stores).
      const region = pick(e.names);
      const cut = 1000 + random() * 8000;
      const labels = e.procs.flatMap((p) => storeNames.filter((s) => (p.region === region) !== (s === region || s === `q-${region}`)).map((s) => e.labelOf(p.id, s)));
      later(at, () => {
        labels.forEach((l) => net.partitioned.add(l));
        log(`region ${region} PARTITIONED ${cut.toFixed(0)} ms`);
        kick();
        sched.setTimeout(() => (labels.forEach((l) => net.partitioned.delete(l)), log(`region ${region} healed`), kick()), cut);
      });
      until = at + cut;
    } else if (kind < 0.75) {
      const pauseFor = 1000 + random() * 8000;
      atVictim(at, (p) => {
        p.clock.pause();
        log(`${p.id} PAUSED ${pauseFor.toFixed(0)} ms`);
        sched.setTimeout(() => (p.clock.resume(), log(`${p.id} resumed`)), pauseFor);
      });
      until = at + pauseFor;
    } else if (kind < 0.9) {
      const downFor = 500 + random() * 4000;
      atVictim(at, (p) => {
        e.crash(p);
        sched.setTimeout(() => e.spawn(p.region, p.id, p.incarnation + 1), downFor);
      });
      until = at + downFor;
    } else {
      // Degraded links, then often cut: punishes validity counted from the reply.
      until = degradeLinks(e, at, victim);
    }
    return until;
  });
}

/** Hierarchy rule on intervals: a global or scope term lies inside a regional term of the same holder. */
export function nestedIn(intervals: LeadershipInterval[]): string[] {
  const out: string[] = [];
  for (const i of intervals) {
    if (i.lease.startsWith("region/")) continue;
    const inside = intervals.some((r) => r.lease.startsWith("region/") && r.holder === i.holder && r.start <= i.start + 1e-6 && r.end + 1e-6 >= i.end);
    if (!inside) out.push(`${i.lease} term of ${i.holder} (token ${i.token}, ${i.start.toFixed(1)}–${i.end.toFixed(1)}) outside any regional term of it`);
  }
  return out;
}
