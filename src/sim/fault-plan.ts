/**
 * Pieces the simulations' fault plans share (quorum-run.ts,
 * quorum-scopes-faults.ts): the run's trace, a network with no fault in
 * progress, and the faults both menus draw. Each draws from the seed's
 * `random` in the same order as the code it replaced, so a seed replays the
 * same events.
 */
import type { ProcessClock } from "./process-clock.js";
import type { SimScheduler } from "./scheduler.js";
import type { SimNetwork } from "./sim-link.js";

/** Timestamped trace lines on the scheduler's clock; past `cap` lines the oldest thousand go. */
export function simTrace(sched: SimScheduler, cap: number): { trace: string[]; log: (line: string) => void } {
  const trace: string[] = [];
  const log = (line: string) => {
    trace.push(`${(sched.now() / 1000).toFixed(3).padStart(9)}s ${line}`);
    if (trace.length > cap) trace.splice(0, 1000);
  };
  return { trace, log };
}

/** Rates of the random faults every link call may meet. */
export type LinkRates = Pick<SimNetwork, "failRate" | "lostReplyRate" | "watchDropRate" | "timeoutMs" | "hangRate">;

/** A network with no fault in progress, and `kick`, which makes open watches re-check reachability. */
export function simNetwork(sched: SimScheduler, random: () => number, rates: LinkRates): { net: SimNetwork; kick: () => void } {
  const net: SimNetwork = {
    sched, random, storesDown: new Set(), partitioned: new Set(), slow: new Set(), isolated: new Set(), globalCut: new Set(),
    ...rates, watchers: new Set(),
  };
  return { net, kick: () => [...net.watchers].forEach((k) => k()) };
}

/** What a fault needs of its run. */
export interface FaultRun {
  sched: SimScheduler;
  net: SimNetwork;
  random: () => number;
  log: (line: string) => void;
  kick: () => void;
}

/**
 * At `at`, the links of a process (`victim()`, chosen then) degrade, then
 * often break: punishes validity counted from the reply. Returns when the
 * fault ends.
 */
export function degradeLinks(r: FaultRun, at: number, victim: () => { id: string } | undefined): number {
  const { sched, net, random, log, kick } = r;
  const slowFor = 2000 + random() * 6000;
  const thenCut = random() < 0.7 ? 1000 + random() * 6000 : 0;
  sched.setTimeout(() => {
    const p = victim();
    if (!p) return;
    net.slow.add(p.id);
    log(`${p.id} links DEGRADED ${slowFor.toFixed(0)} ms${thenCut ? `, then cut ${thenCut.toFixed(0)} ms` : ""}`);
    sched.setTimeout(() => {
      net.slow.delete(p.id);
      if (thenCut) net.isolated.add(p.id);
      kick();
      sched.setTimeout(() => (net.isolated.delete(p.id), kick()), thenCut);
    }, slowFor);
  }, at - sched.now());
  return at + slowFor + thenCut;
}

/**
 * The fault phase: from `firstAfterMs` (plus up to 2 s) after now until
 * `faultMs` (plus 1 s), a fault every 0.3–2.8 s; `fault(kind, at)` plans one
 * (`kind` uniform in [0, 1)) and returns when it ends. Returns when the last
 * one ends.
 */
export function planFaults(sched: SimScheduler, random: () => number, firstAfterMs: number, faultMs: number, fault: (kind: number, at: number) => number): number {
  let t = sched.now() + firstAfterMs + random() * 2000;
  let lastFaultEnd = sched.now();
  while (t < 1000 + faultMs) {
    const kind = random();
    const at = t;
    lastFaultEnd = Math.max(lastFaultEnd, fault(kind, at));
    t += 300 + random() * 2500;
  }
  return lastFaultEnd;
}

/**
 * Takes `key`'s open term out of `open`, with its end: now, or the holder's
 * deadline on the true clock when that came first (never before its start).
 */
export function endTerm<T extends { start: number; deadline: number; p: { clock: ProcessClock } }>(open: Map<string, T>, key: string, now: number): (T & { end: number }) | undefined {
  const o = open.get(key);
  if (!o) return undefined;
  open.delete(key);
  return { ...o, end: Math.max(o.start, Math.min(now, o.p.clock.toTrue(o.deadline))) };
}
