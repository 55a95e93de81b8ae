/**
 * One seeded simulation of the quorum lease (issue 11): N independent
 * in-memory stores, each with its own outages and restarts that lose its
 * newest writes (sometimes everything: a recreated bucket); processes with
 * mixed timing configs on drifting, pausable clocks that crash and restart;
 * links between one process and one store that break or slow down; failed
 * operations, lost replies and replies that never come (only the caller's
 * deadline ends those); on about half the seeds, forged records on
 * one store or a majority (forgery.ts). Every term goes through the split-brain
 * oracle; afterwards a leader must appear within a bound, and the time from
 * losing a leader to the next one is measured (contention and liveness).
 */
import { termOf, safeRules, type QuorumRules } from "../election/quorum-rules.js";
import { startQuorumElection, type QuorumElection } from "../election/quorum.js";
import { MemoryLeaseStore } from "../lease/memory-store.js";
import { viewOf } from "../lease/record.js";
import { checkIntervals, type LeadershipInterval } from "../observability/oracle.js";
import { forgeOnce } from "./forgery.js";
import { ProcessClock } from "./process-clock.js";
import { prng, type SeedResult } from "./run-seed.js";
import { SimScheduler } from "./scheduler.js";
import { withMutations } from "../election/mutations.js";
import { SimLink } from "./sim-link.js";
import { degradeLinks, endTerm, planFaults, simNetwork, simTrace } from "./fault-plan.js";

/** Quorum rules a mutation test breaks on purpose. */
export type QuorumMutation = "none" | "minority-quorum" | "vacant-at-once" | "validity-from-reply" | "term-without-majority" | "take-any-release";
export const QUORUM_MUTATIONS: QuorumMutation[] = ["minority-quorum", "vacant-at-once", "validity-from-reply", "term-without-majority", "take-any-release"];

function rulesFor(m: QuorumMutation): Partial<QuorumRules> | undefined {
  switch (m) {
    case "minority-quorum":
      return { quorumSize: (n) => Math.max(1, Math.floor(n / 2)) };
    case "vacant-at-once":
      return { takeableAt: (s, ...rest) => (s.view?.state === "vacant" ? s.observedSince : safeRules.takeableAt(s, ...rest)) };
    case "validity-from-reply":
      return { storeDeadline: (_send, reply, timing) => reply + timing.validForMs };
    case "term-without-majority":
      // The term from the first store that answered, and no per-store check.
      return { nextTerm: (views) => 1 + termOf(views.find((v) => v !== null) ?? null), termAllows: () => true };
    case "take-any-release":
      // The rule before attribution: any release by someone else is taken at once on a settled store.
      return { takeableAt: (s, ...rest) => safeRules.takeableAt({ ...s, free: true }, ...rest) };
    default:
      return undefined;
  }
}

export interface QuorumSeedOptions {
  mutation?: QuorumMutation;
  stores?: number;
  procs?: number;
  faultMs?: number;
  livenessMs?: number;
  /** Forged records during the fault phase (forgery.ts). Default: drawn per seed, on for about half of them. */
  forgeries?: boolean;
}

export interface QuorumSeedResult extends SeedResult {
  /** Simulated ms from each loss of the leader (end of a term) to the next term's start. */
  gaps: number[];
}

interface Proc {
  id: string;
  clock: ProcessClock;
  election: QuorumElection;
  incarnation: number;
}

export async function runQuorumSeed(seed: number, opts: QuorumSeedOptions = {}): Promise<QuorumSeedResult> {
  const random = prng(seed);
  const sched = new SimScheduler();
  const mutation = opts.mutation ?? "none";
  const nStores = opts.stores ?? (random() < 0.25 ? 5 : 3);
  const nProcs = opts.procs ?? 3 + Math.floor(random() * 3);
  const faultMs = opts.faultMs ?? 40_000;
  const livenessMs = opts.livenessMs ?? 40_000;
  const maxDrift = 0.01;
  const { trace, log } = simTrace(sched, 4000);
  const { net, kick } = simNetwork(sched, random, { failRate: 0.01, lostReplyRate: 0.02, hangRate: 0.005, watchDropRate: 0.05, timeoutMs: 2000 });
  const stores = Array.from({ length: nStores }, (_, i) => new MemoryLeaseStore(`s${i}`));
  // Every write that lands goes into the trace: a failing seed shows who held which store when.
  for (const s of stores) {
    const show = (rev: number, value: Uint8Array) => {
      const v = viewOf({ key: "q.leader", revision: rev, operation: "put", value });
      log(`  ${s.name}@${rev} ${v.state}${"holder" in v ? ` ${v.holder} term ${v.token}` : ""}`);
    };
    const [create, update] = [s.create.bind(s), s.update.bind(s)];
    s.create = (k, value, o) => create(k, value, o).then((rev) => (show(rev, value), rev));
    s.update = (k, value, r, o) => update(k, value, r, o).then((rev) => (show(rev, value), rev));
  }
  const intervals: LeadershipInterval[] = [];
  const open = new Map<string, { token: number; start: number; deadline: number; p: Proc }>();
  const ends: number[] = [];
  const starts: number[] = [];
  let maxWon = 0;
  const procs: Proc[] = [];
  const close = (key: string, why: string) => {
    const o = endTerm(open, key, sched.now());
    if (!o) return;
    const end = o.end;
    intervals.push({ lease: "quorum", holder: key, token: o.token, start: o.start, end });
    ends.push(end);
    log(`${key} ${why} token=${o.token}`);
  };

  const spawn = (id: string, incarnation: number): Proc => {
    const clock = new ProcessClock(sched, 1 + (random() - 0.5) * maxDrift * 0.999, (random() - 0.5) * 2e9);
    // Mixed timing configs: every process picks its own lease.
    const leaseMs = [2000, 3000, 4000][Math.floor(random() * 3)]!;
    // Each (process, store) pair is its own "region" of SimLink, so one link can be cut alone.
    const links = stores.map((s) => new SimLink(s, net, clock, `${id}@${s.name}`, id));
    const rules = rulesFor(mutation);
    const election = startQuorumElection({
      key: "q.leader", stores: links, id, leaseMs, maxDrift,
      simulation: withMutations({ now: () => clock.now(), clock, random, wallNow: () => sched.now() }, rules ? { quorumRules: rules } : {}),
    });
    const p: Proc = { id, clock, election, incarnation };
    const key = `${id}#${incarnation}`;
    election.on((e) => {
      if (e.type === "elected") {
        open.set(key, { token: e.token, start: sched.now(), deadline: e.validUntil, p });
        starts.push(sched.now());
        maxWon = Math.max(maxWon, e.token);
        log(`${key} ACQUIRED token=${e.token} (lease ${leaseMs})`);
      } else if (e.type === "renewed") {
        const o = open.get(key);
        if (o) o.deadline = e.validUntil;
      } else if (e.type === "deposed") close(key, `ended (${e.reason})`);
    });
    procs.push(p);
    log(`${key} started (lease ${leaseMs}, ${nStores} stores)`);
    return p;
  };
  for (let i = 1; i <= nProcs; i++) spawn(`p${i}`, 0);
  const alive = () => procs.filter((p) => !p.clock.crashed);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  const later = (at: number, fn: () => void) => sched.setTimeout(fn, at - sched.now());
  const holder = () => alive().find((p) => p.election.isLeader());

  let lastFaultEnd = planFaults(sched, random, 5000, faultMs, (kind, at) => {
    let until = at;
    if (kind < 0.15) {
      const downFor = 500 + random() * 4000;
      later(at, () => {
        const p = random() < 0.5 ? holder() ?? pick(alive()) : pick(alive());
        if (!p) return;
        p.clock.crash();
        close(`${p.id}#${p.incarnation}`, "crashed");
        log(`${p.id} CRASHED`);
        sched.setTimeout(() => spawn(p.id, p.incarnation + 1), downFor);
      });
      until = at + downFor;
    } else if (kind < 0.25) {
      const pauseFor = (0.3 + random() * 2.2) * 4000;
      later(at, () => {
        const p = random() < 0.5 ? holder() ?? pick(alive()) : pick(alive());
        if (!p) return;
        p.clock.pause();
        log(`${p.id} PAUSED ${pauseFor.toFixed(0)} ms`);
        sched.setTimeout(() => (p.clock.resume(), log(`${p.id} resumed`)), pauseFor);
      });
      until = at + pauseFor;
    } else if (kind < 0.45) {
      // A store outage, or a restart that loses its newest writes (down while it restarts).
      const store = pick(stores);
      const downFor = 300 + random() * 6000;
      let lose = random() < 0.5 ? (random() < 0.3 ? Number.MAX_SAFE_INTEGER : 1 + Math.floor(random() * 6)) : 0;
      later(at, () => {
        net.storesDown.add(store.name);
        // The durability assumption (docs/quorum.md): the highest term that
        // won stays on every majority, i.e. on N − q + 1 stores. A restart
        // that may lose it is planned only while the other stores suffice.
        const keep = stores.filter((s) => s !== store && termOf(viewOf(s.peek("q.leader"))) >= maxWon).length;
        if (keep < nStores - Math.floor(nStores / 2)) lose = 0;
        const lost = lose ? store.loseNewestWrites(lose) : 0;
        log(`store ${store.name} ${lose ? `RESTART losing ${lose === Number.MAX_SAFE_INTEGER ? "everything" : `${lost} writes`}` : "OUTAGE"} ${downFor.toFixed(0)} ms`);
        kick();
        sched.setTimeout(() => (net.storesDown.delete(store.name), log(`store ${store.name} back`), kick()), downFor);
      });
      until = at + downFor;
    } else if (kind < 0.8) {
      // One process cut from one store (often the holder): the bare-majority case.
      const cut = 1000 + random() * 9000;
      const store = pick(stores);
      later(at, () => {
        const p = random() < 0.6 ? holder() ?? pick(alive()) : pick(alive());
        if (!p) return;
        const link = `${p.id}@${store.name}`;
        net.partitioned.add(link);
        log(`link ${link} CUT ${cut.toFixed(0)} ms`);
        kick();
        sched.setTimeout(() => (net.partitioned.delete(link), log(`link ${link} healed`), kick()), cut);
      });
      until = at + cut;
    } else {
      // A process's links degrade, then often break: punishes validity from the reply.
      until = degradeLinks({ sched, net, random, log, kick }, at, () => (random() < 0.6 ? holder() ?? pick(alive()) : pick(alive())));
    }
    return until;
  });

  // Forgeries from their own stream, so a seed's other faults stay the same.
  const forgeRandom = prng(seed ^ 0x51f0a7e3);
  if (opts.forgeries ?? forgeRandom() < 0.5) {
    for (let n = 1 + Math.floor(forgeRandom() * 4); n > 0; n--) {
      const at = 4000 + forgeRandom() * (faultMs - 3000);
      // One store, or a majority: the same forgery on each (one draw replayed per store).
      const many = forgeRandom() < 0.6 ? Math.floor(nStores / 2) + 1 : 1;
      const targets = [...stores].sort(() => forgeRandom() - 0.5).slice(0, many);
      const drawSeed = Math.floor(forgeRandom() * 2 ** 32);
      // Often a second forgery shortly after: the forger's own term, then its release.
      const again = forgeRandom() < 0.5 ? 50 + forgeRandom() * 1500 : -1;
      const forge = () => {
        // A forgery that lowers a store's term (a delete, a lower forged term) is,
        // like a lossy restart, planned only while the highest term won stays
        // on N − q + 1 other stores (Q4).
        const keep = stores.filter((s) => !targets.includes(s) && termOf(viewOf(s.peek("q.leader"))) >= maxWon).length;
        const keepTerm = keep < nStores - Math.floor(nStores / 2);
        for (const store of targets) {
          const what = forgeOnce(store, "q.leader", prng(drawSeed), { keepTerm });
          if (what) log(what);
        }
        kick();
      };
      later(at, forge);
      if (again >= 0) later(at + again, forge);
      lastFaultEnd = Math.max(lastFaultEnd, at + Math.max(0, again));
    }
  }

  await sched.runUntil(lastFaultEnd + 1);
  net.failRate = 0;
  net.lostReplyRate = 0;
  net.hangRate = 0;
  log("faults over");
  let recoveredAfterMs = -1;
  const quietStart = sched.now();
  for (let step = 0; step * 250 < livenessMs; step++) {
    await sched.runUntil(quietStart + (step + 1) * 250);
    if (holder()) {
      recoveredAfterMs = sched.now() - quietStart;
      break;
    }
  }
  for (const key of [...open.keys()]) close(key, "run ended");
  const violations = checkIntervals(intervals).violations.map((v) => v.message);
  if (recoveredAfterMs < 0) violations.push(`liveness: no leader within ${livenessMs} ms after the faults`);
  for (const p of procs) p.clock.crash();
  // Contention and liveness: from each term's end to the next term's start.
  const gaps = ends.map((e) => starts.filter((s) => s >= e).sort((a, b) => a - b)[0]).flatMap((s, i) => (s === undefined ? [] : [s - ends[i]!]));
  return { seed, ok: violations.length === 0, violations, recoveredAfterMs, events: sched.fired, trace, gaps };
}
