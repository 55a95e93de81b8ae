/**
 * One seeded simulation of scope leases over a quorum (issue 11, step 2):
 * 3 (sometimes 5) regions, each with its own regional store and its own R1
 * quorum store; two nodes per region (quorum-scope-node.ts); the global lease
 * a `QuorumElection` over the quorum stores, whose holder runs the quorum
 * authority; a quorum lessee on every regional leader.
 *
 * 1. Fault phase: quorum-store outages (long), restarts of a quorum store that
 *    lose its newest writes (planned within Q4), regional-store outages,
 *    (process, store) links cut, region partitions, degraded links, pauses,
 *    crashes and restarts, failed calls, lost replies, dropped watch events;
 *    on about half the seeds, forged scope releases on a majority of quorum
 *    stores while the lessee is cut off from them (scope-forgery.ts).
 * 2. Quiet phase: every unpartitioned region led, a global leader, every
 *    scope held, within `livenessMs`.
 * 3. Targets (issue 11), once every scope is home: one quorum store down for
 *    10 s costs no leadership change and no scope end anywhere; then one whole
 *    region lost: its scope is held in another region within
 *    L_global + L_scope + 1 s, and no other region's scope or regional lease ends.
 *
 * The oracle checks every lease (regional, global, each scope): no overlap,
 * tokens increasing; global and scope terms inside a regional term of the holder.
 */
import { safeRules, termOf } from "../election/quorum-rules.js";
import { MemoryLeaseStore } from "../lease/memory-store.js";
import { viewOf } from "../lease/record.js";
import { checkIntervals, type LeadershipInterval } from "../observability/oracle.js";
import { scopeViewOf } from "../scopes/record.js";
import type { ScopeQuorumRules } from "../scopes/quorum-scope.js";
import { ProcessClock } from "./process-clock.js";
import { QuorumScopeNode } from "./quorum-scope-node.js";
import { prng, type SeedResult } from "./run-seed.js";
import { SimScheduler } from "./scheduler.js";
import { SimLink, type SimNetwork } from "./sim-link.js";
import { endTerm, simNetwork, simTrace } from "./fault-plan.js";
import { nestedIn, scopeFaults, type QProc } from "./quorum-scopes-faults.js";
import { scopeForgeries } from "./scope-forgery.js";
import { GLOBAL_KEY, scopeKey, scopeOfKey } from "../wire/names.js";

export type ScopeQuorumMutation = "none" | "lessee-minority" | "regrant-after-minority" | "scope-validity-from-reply" | "scope-term-from-one-store" | "scope-take-any-release";
export const SCOPE_QUORUM_MUTATIONS: ScopeQuorumMutation[] = ["lessee-minority", "regrant-after-minority", "scope-validity-from-reply", "scope-term-from-one-store", "scope-take-any-release"];

function rulesFor(m: ScopeQuorumMutation): { lessee?: Partial<ScopeQuorumRules>; authority?: Partial<ScopeQuorumRules> } {
  switch (m) {
    case "lessee-minority":
      return { lessee: { quorumSize: (n) => Math.max(1, Math.floor(n / 2)) } };
    case "regrant-after-minority":
      // Re-grant once a minority is takeable, onto every store whose term allows.
      return { authority: { grantable: (t, q) => (t.filter(Boolean).length >= Math.max(1, q - 1) ? t.map(() => true) : null) } };
    case "scope-validity-from-reply":
      return { lessee: { storeDeadline: (_send, reply, timing) => reply + timing.validForMs } };
    case "scope-term-from-one-store":
      return { authority: { nextTerm: (views) => 1 + termOf(views.find((v) => v !== null) ?? null), termAllows: () => true } };
    case "scope-take-any-release":
      // The rule before term secrets: any release by someone else, at once on a settled store.
      return { authority: { takeableAt: (s, ...rest) => safeRules.takeableAt({ ...s, free: true }, ...rest) } };
    default:
      return {};
  }
}

export interface ScopeQuorumSeedOptions {
  mutation?: ScopeQuorumMutation;
  regions?: number;
  faultMs?: number;
  livenessMs?: number;
  /** Skip the targets phase (mutation searches). */
  targets?: boolean;
  /** Forged scope records during the fault phase (scope-forgery.ts). Default: drawn per seed, on for about half of them. */
  forgeries?: boolean;
}

export interface ScopeQuorumSeedResult extends SeedResult {
  /** Issue 11 targets missed (not safety): a lapse or leadership change caused only by another store or region, a slow failover. */
  targetMisses: string[];
  /** Region loss: kill to the lost region's scope held elsewhere (ms), and its bound; -1 when not run. */
  failoverMs: number;
  failoverBoundMs: number;
}

const NAMES = ["eu", "us", "ap", "sa", "af"];

export async function runScopeQuorumSeed(seed: number, opts: ScopeQuorumSeedOptions = {}): Promise<ScopeQuorumSeedResult> {
  const random = prng(seed);
  const sched = new SimScheduler();
  const mutation = opts.mutation ?? "none";
  const rules = rulesFor(mutation);
  const nRegions = opts.regions ?? (random() < 0.2 ? 5 : 3);
  const names = NAMES.slice(0, nRegions);
  const regions = names.map((n, i) => ({ name: n, failover: [...names.slice(i + 1), ...names.slice(0, i)], leaseMs: 2000 }));
  const mixed = random() < 0.5;
  const maxDrift = 0.01;
  const { trace, log } = simTrace(sched, 5000);
  const { net, kick } = simNetwork(sched, random, { failRate: 0.01, lostReplyRate: 0.02, watchDropRate: 0.05, timeoutMs: 2000 });
  const rStores = new Map(names.map((n) => [n, new MemoryLeaseStore(n)]));
  const qStores = names.map((n) => new MemoryLeaseStore(`q-${n}`));
  for (const s of qStores) {
    const update = s.update.bind(s);
    s.update = (k, value, r, o) =>
      update(k, value, r, o).then((rev) => {
        const v = k.startsWith(scopeKey("")) ? scopeViewOf({ key: k, revision: rev, operation: "put", value }) : null;
        if (v && v.state !== "vacant" && v.state !== "unknown") log(`  ${s.name}@${rev} ${k} ${v.state}${v.record.recall ? "+recall" : ""} ${v.record.node} term ${v.token}`);
        return rev;
      });
  }
  const intervals: LeadershipInterval[] = [];
  const open = new Map<string, { token: number; start: number; deadline: number; p: QProc }>();
  const maxWon = new Map<string, number>();
  const ends: { lease: string; holder: string; region: string; reason: string; at: number }[] = [];
  const procs: QProc[] = [];
  const close = (key: string, why: string) => {
    const o = endTerm(open, key, sched.now());
    if (!o) return;
    const end = o.end;
    const [holder, lease] = key.split("|") as [string, string];
    intervals.push({ lease, holder, token: o.token, start: o.start, end });
    ends.push({ lease, holder, region: o.p.region, reason: why, at: sched.now() });
    log(`${holder} ${lease} ${why} token=${o.token}`);
  };
  const labelOf = (id: string, store: string) => `${id}@${store}`;

  const spawn = (region: string, id: string, incarnation: number): QProc => {
    const clock = new ProcessClock(sched, 1 + (random() - 0.5) * maxDrift * 0.999, (random() - 0.5) * 2e9);
    const link = (s: MemoryLeaseStore) => new SimLink(s, net, clock, labelOf(id, s.name), id);
    const own = link(rStores.get(region)!);
    const others = new Map(names.map((n) => [n, n === region ? own : link(rStores.get(n)!)]));
    const leases = { region: 2000, global: mixed && random() < 0.5 ? 4000 : 3000, scope: mixed && random() < 0.5 ? 4000 : 3000 };
    const node = new QuorumScopeNode({
      id, region, regions, regionalStore: own, quorumStores: qStores.map(link), regionStore: async (r) => others.get(r)!,
      clock, random, wallNow: () => sched.now(), leases, maxDrift, failbackAfterMs: 4000,
      ...(rules.lessee ? { lesseeRules: rules.lessee } : {}), ...(rules.authority ? { authorityRules: rules.authority } : {}),
    });
    const p: QProc = { id, region, clock, node, incarnation };
    node.on((e) => {
      const lease = "scope" in e ? `scope/${e.scope}` : e.tier === "region" ? `region/${region}` : "global";
      const key = `${id}#${incarnation}|${lease}`;
      if (e.type === "elected" || e.type === "scope-held") {
        open.set(key, { token: e.token, start: sched.now(), deadline: e.validUntil, p });
        maxWon.set(lease, Math.max(maxWon.get(lease) ?? 0, e.token));
        log(`${id} ${lease} ACQUIRED token=${e.token}`);
      } else if (e.type === "renewed" || e.type === "scope-renewed") {
        const o = open.get(key);
        if (o) o.deadline = e.validUntil;
      } else if (e.type === "deposed" || e.type === "scope-ended") close(key, `ended (${e.reason})`);
    });
    procs.push(p);
    log(`${id} started (${region}, global ${leases.global}, scope ${leases.scope})`);
    return p;
  };
  for (const r of names) for (let i = 1; i <= 2; i++) spawn(r, `${r}-${i}`, 0);
  const alive = () => procs.filter((p) => !p.clock.crashed);
  const crash = (p: QProc) => {
    p.clock.crash();
    for (const key of [...open.keys()]) if (key.startsWith(`${p.id}#${p.incarnation}|`)) close(key, "crashed");
    log(`${p.id} CRASHED`);
  };
  /** Q4: a restart of `store` may lose the newest term of a key only while N − q + 1 other stores keep it. */
  const mayLose = (store: MemoryLeaseStore) => {
    const need = nRegions - Math.floor(nRegions / 2);
    for (const key of [GLOBAL_KEY, ...names.map(scopeKey)]) {
      const won = maxWon.get(key === GLOBAL_KEY ? "global" : `scope/${scopeOfKey(key)}`) ?? 0;
      const termAt = (s: MemoryLeaseStore) => (key === GLOBAL_KEY ? termOf(viewOf(s.peek(key))) : scopeTermOfEntry(s, key));
      if (qStores.filter((s) => s !== store && termAt(s) >= won).length < need) return false;
    }
    return true;
  };
  const env = { sched, net, random, names, rStores, qStores, procs, alive, crash, spawn, log, kick, labelOf, mayLose };
  const faultMs = opts.faultMs ?? 40_000;
  let lastFaultEnd = scopeFaults(env, faultMs);
  // Forgeries from their own stream, so a seed's other faults stay the same.
  const forgeRandom = prng(seed ^ 0x3c6ef372);
  if (opts.forgeries ?? forgeRandom() < 0.5) lastFaultEnd = Math.max(lastFaultEnd, scopeForgeries(env, forgeRandom, faultMs));

  await sched.runUntil(lastFaultEnd + 1);
  net.failRate = 0;
  net.lostReplyRate = 0;
  log("faults over");
  const violations: string[] = [];
  const quietStart = sched.now();
  const livenessMs = opts.livenessMs ?? 40_000;
  const complete = (home: boolean) => {
    const a = alive();
    const up = names.filter((r) => ![...net.partitioned].some((l) => l.startsWith(`${r}-`)));
    return (
      up.every((r) => a.some((p) => p.region === r && p.node.regional.isLeader())) &&
      a.some((p) => p.node.globalRole() !== null) &&
      names.every((s) => a.some((p) => p.node.scopeHeld(s) && (!home || p.region === s)))
    );
  };
  let recoveredAfterMs = -1;
  for (let step = 0; step * 100 < livenessMs; step++) {
    await sched.runUntil(quietStart + (step + 1) * 100);
    if (complete(false)) {
      recoveredAfterMs = sched.now() - quietStart;
      break;
    }
  }
  if (recoveredAfterMs < 0) violations.push(`liveness: no complete set of leaders and scope holders within ${livenessMs} ms after the faults`);
  let failoverMs = -1;
  let failoverBoundMs = -1;
  const targetMisses: string[] = [];
  if (recoveredAfterMs >= 0 && opts.targets !== false && mutation === "none") {
    const t = await targets({ sched, names, qStores, rStores, net, alive, crash, log, kick, complete, ends, mixed, random });
    (t.violations[0]?.startsWith("liveness") ? violations : targetMisses).push(...t.violations);
    failoverMs = t.failoverMs;
    failoverBoundMs = t.boundMs;
  }
  for (const key of [...open.keys()]) close(key, "run ended");
  violations.unshift(...checkIntervals(intervals).violations.map((v) => v.message), ...nestedIn(intervals));
  for (const p of procs) p.clock.crash();
  return { seed, ok: violations.length === 0, violations, recoveredAfterMs, events: sched.fired, trace, failoverMs, failoverBoundMs, targetMisses };
}

function scopeTermOfEntry(s: MemoryLeaseStore, key: string): number {
  const v = scopeViewOf(s.peek(key));
  return v.state === "vacant" || v.state === "unknown" ? 0 : v.token;
}

interface TargetEnv {
  sched: SimScheduler;
  names: string[];
  qStores: MemoryLeaseStore[];
  rStores: Map<string, MemoryLeaseStore>;
  net: SimNetwork;
  alive: () => QProc[];
  crash: (p: QProc) => void;
  log: (l: string) => void;
  kick: () => void;
  complete: (home: boolean) => boolean;
  ends: { lease: string; holder: string; region: string; reason: string; at: number }[];
  mixed: boolean;
  random: () => number;
}

/** The targets, on a settled deployment (every scope home). */
async function targets(e: TargetEnv): Promise<{ violations: string[]; failoverMs: number; boundMs: number }> {
  const out: string[] = [];
  const { sched } = e;
  const settle = sched.now();
  while (!e.complete(true) && sched.now() - settle < 40_000) await sched.runUntil(sched.now() + 100);
  if (!e.complete(true)) return { violations: [`liveness: scopes not all home within 40 s of recovery`], failoverMs: -1, boundMs: -1 };
  await sched.runUntil(sched.now() + 3000);
  // 1. One quorum store lost for 10 s: nothing changes anywhere.
  const store = e.qStores[Math.floor(e.random() * e.qStores.length)]!;
  let t0 = sched.now();
  e.net.storesDown.add(store.name);
  e.log(`TARGET store ${store.name} DOWN 10 s`);
  e.kick();
  await sched.runUntil(t0 + 10_000);
  e.net.storesDown.delete(store.name);
  e.kick();
  await sched.runUntil(sched.now() + 4000);
  for (const x of e.ends.filter((x) => x.at >= t0)) out.push(`store loss: ${x.lease} of ${x.holder} ended (${x.reason}) while only store ${store.name} was down`);
  // 2. One region lost (its processes and both its stores): its scope is held elsewhere within the bound.
  const lost = e.names[Math.floor(e.random() * e.names.length)]!;
  const boundMs = (e.mixed ? 4000 + 4000 : 3000 + 3000) + 1000;
  t0 = sched.now();
  e.net.storesDown.add(lost);
  e.net.storesDown.add(`q-${lost}`);
  for (const p of e.alive().filter((p) => p.region === lost)) e.crash(p);
  e.log(`TARGET region ${lost} LOST`);
  e.kick();
  let failoverMs = -1;
  while (sched.now() - t0 < boundMs + 5000) {
    await sched.runUntil(sched.now() + 10);
    if (e.alive().some((p) => p.node.scopeHeld(lost))) {
      failoverMs = sched.now() - t0;
      break;
    }
  }
  await sched.runUntil(t0 + boundMs + 5000);
  if (failoverMs < 0 || failoverMs > boundMs) out.push(`region loss: scope ${lost} held elsewhere after ${failoverMs} ms (bound ${boundMs} ms)`);
  for (const x of e.ends.filter((x) => x.at >= t0 && x.region !== lost)) out.push(`region loss: ${x.lease} of ${x.holder} ended (${x.reason}) while only region ${lost} was lost`);
  return { violations: out, failoverMs, boundMs };
}
