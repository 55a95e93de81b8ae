/**
 * A simulated deployment for one seed: regions with their own in-memory
 * stores and a global store, one RegentNode per process (the real election,
 * hierarchy and scope code), every process on its own drifting, pausable
 * clock and its own faulty links. Leadership intervals are recorded in true
 * (simulated) time for the split-brain oracle.
 */
import { assign } from "xstate";
import { MemoryLeaseStore } from "../lease/memory-store.js";
import { viewOf } from "../lease/record.js";
import type { StoreEntry } from "../lease/store.js";
import { startNode, type RegentNode } from "../hierarchy/node.js";
import type { LeadershipInterval } from "../observability/oracle.js";
import type { electionMachine } from "../election/machine.js";
import { withMutations } from "../election/mutations.js";
import { ProcessClock } from "./process-clock.js";
import type { SimScheduler } from "./scheduler.js";
import { SimLink, type SimNetwork } from "./sim-link.js";
import { StaleReads } from "./stale-reads.js";

/** Rules a mutation test breaks on purpose. */
export type Mutation = "none" | "no-drift-margin" | "deadline-from-reply" | "no-full-lease-wait" | "ignore-record-lease" | "no-genesis-wait" | "take-any-release";
export const MUTATIONS: Mutation[] = ["no-drift-margin", "deadline-from-reply", "no-full-lease-wait", "ignore-record-lease", "no-genesis-wait", "take-any-release"];

/**
 * The quorum of the global and scope leases (docs/quorum.md). The fault menu
 * acts on the first ("global": outages, lost buckets, forgeries, within Q4)
 * and cuts a process from all of them at once (`globalCut`). Three stores,
 * not one: a single store's lost bucket would lose every term (Q4), and
 * tokens would repeat. The region-placed quorum is simulated by
 * `npm run sim -- --quorum-scopes`.
 */
export const GLOBAL_STORES = ["global", "global-2", "global-3"];

export interface WorldConfig {
  regions: { name: string; failover: string[] }[];
  nodesPerRegion: number;
  regionLeaseMs: number;
  globalLeaseMs: number;
  scopeLeaseMs: number;
  failbackAfterMs: number;
  maxDrift: number;
  mutation: Mutation;
  /**
   * Mixed timing configs (a rolling config change): when set, every process
   * (and every restart of one) draws, from this source, its own lease length
   * per tier (½, 1 or 2 × the configured one), and its own maxDrift (1 or 2 ×
   * the true bound) and margin (default or doubled).
   */
  mixedTiming?: () => number;
}

export interface SimProc {
  id: string;
  region: string;
  clock: ProcessClock;
  node: RegentNode;
  incarnation: number;
}

interface Open {
  token: number;
  start: number;
  deadline: number;
}

function mutate(mutation: Mutation): ((m: typeof electionMachine) => typeof electionMachine) | undefined {
  switch (mutation) {
    case "deadline-from-reply":
      // Validity from the reply instead of the send.
      return (m) =>
        m.provide({
          actions: {
            acquired: assign(({ context, event }) => {
              const rev = Number((event as { output?: unknown }).output);
              return {
                acquiredAtWall: context.wallNow(),
                revision: rev,
                token: rev,
                deadline: context.now() + context.timing.validForMs,
                unconfirmedSince: null,
                failures: 0,
                announcedLeader: context.id,
                announcedToken: rev,
              };
            }),
            renewed: assign(({ context, event }) => ({
              revision: Number((event as { output?: unknown }).output),
              deadline: context.now() + context.timing.validForMs,
              unconfirmedSince: null,
              failures: 0,
            })),
          },
        }) as typeof electionMachine;
    case "ignore-record-lease":
      // Waits its own lease only, not the holder's longer one from the record.
      return (m) =>
        m.provide({
          delays: { untilTakeover: ({ context }) => Math.max(0, context.observedSince + context.timing.leaseMs - context.now()) },
        }) as typeof electionMachine;
    case "take-any-release": {
      // R9 broken: any released record (or delete) is taken at once, attributable or not (the rule before issue 14).
      const anyRelease = (ctx: { id: string }, entry: unknown) => {
        const v = viewOf(entry as StoreEntry | null);
        return v.state === "vacant" || (v.state === "released" && v.holder !== ctx.id);
      };
      const payload = (e: object): unknown => ("output" in e ? e.output : "entry" in e ? e.entry : null);
      return (m) =>
        m.provide({
          guards: {
            takeable: ({ context, event }) => anyRelease(context, payload(event)),
            changeTakeable: ({ context, event }) => event.type === "STORE.CHANGE" && anyRelease(context, event.entry),
          },
        }) as typeof electionMachine;
    }
    case "no-full-lease-wait":
      // Takes over after half a lease of silence.
      return (m) =>
        m.provide({
          delays: { untilTakeover: ({ context }) => Math.max(0, context.observedSince + context.timing.leaseMs / 2 - context.now()) },
        }) as typeof electionMachine;
    default:
      return undefined;
  }
}

export class SimWorld {
  readonly net: SimNetwork;
  readonly stores = new Map<string, MemoryLeaseStore>();
  readonly procs: SimProc[] = [];
  readonly intervals: LeadershipInterval[] = [];
  readonly trace: string[] = [];
  private readonly open = new Map<string, Open>();

  constructor(
    readonly sched: SimScheduler,
    readonly random: () => number,
    readonly cfg: WorldConfig,
  ) {
    this.net = {
      sched,
      random,
      storesDown: new Set(),
      partitioned: new Set(),
      slow: new Set(),
      isolated: new Set(),
      globalCut: new Set(),
      failRate: 0.01,
      lostReplyRate: 0.01,
      watchDropRate: 0.02,
      timeoutMs: 2000,
      watchers: new Set(),
      stale: new StaleReads(() => sched.now(), random),
    };
    for (const r of cfg.regions) this.stores.set(r.name, new MemoryLeaseStore(r.name));
    for (const name of GLOBAL_STORES) this.stores.set(name, new MemoryLeaseStore(name));
  }

  log(line: string): void {
    this.trace.push(`${(this.sched.now() / 1000).toFixed(3).padStart(9)}s ${line}`);
    if (this.trace.length > 4000) this.trace.splice(0, 1000);
  }

  /** Fault state changed: let open watches notice. */
  kick(): void {
    for (const k of [...this.net.watchers]) k();
  }

  spawn(region: string, id: string, incarnation = 0): SimProc {
    const rho = this.cfg.maxDrift;
    // Rates within ±ρ/2 of true time: any two clocks then differ by at most ρ.
    const rate = 1 + (this.random() - 0.5) * rho * 0.999;
    const offset = (this.random() - 0.5) * 2e9; // any offset at all
    const clock = new ProcessClock(this.sched, rate, offset);
    const link = (store: string) => new SimLink(this.stores.get(store)!, this.net, clock, region, id);
    const timing = this.timingFor(rho);
    const regional = link(region);
    const others = new Map(this.cfg.regions.map((r) => [r.name, r.name === region ? regional : link(r.name)]));
    const node = startNode({
      cluster: "sim",
      region,
      id,
      regionalStore: regional,
      quorumStores: GLOBAL_STORES.map(link),
      regionalTiming: timing(this.cfg.regionLeaseMs, "r"),
      globalTiming: timing(this.cfg.globalLeaseMs, "g"),
      simulation: withMutations(
        { now: () => clock.now(), clock, random: this.random, wallNow: () => this.sched.now() },
        {
          ...(mutate(this.cfg.mutation) ? { machine: mutate(this.cfg.mutation)! } : {}),
          // The same broken rule on the steady renewals, which run outside the machine.
          ...(this.cfg.mutation === "deadline-from-reply" ? { renewedDeadline: (_sent: number, replied: number, t: { validForMs: number }) => replied + t.validForMs } : {}),
        },
      ),
      scopes: {
        timing: timing(this.cfg.scopeLeaseMs, "s"),
        failbackAfterMs: this.cfg.failbackAfterMs,
        regions: this.cfg.regions.map((r) => ({ ...r, leaseMs: this.cfg.regionLeaseMs })),
        regionStore: async (r) => others.get(r)!,
      },
    });
    const p: SimProc = { id, region, clock, node, incarnation };
    node.on((e) => {
      const lease = "scope" in e ? `scope/${e.scope}` : e.tier === "region" ? `region/${region}` : "global";
      const key = `${id}#${incarnation}|${lease}`;
      switch (e.type) {
        case "elected":
        case "scope-held":
          this.open.set(key, { token: e.token, start: this.sched.now(), deadline: e.validUntil });
          this.log(`${id} ${lease} ACQUIRED token=${e.token}`);
          return;
        case "renewed":
        case "scope-renewed": {
          const o = this.open.get(key);
          if (o) o.deadline = e.validUntil;
          return;
        }
        case "deposed":
        case "scope-ended":
          this.close(key, p, `ended (${e.reason})`);
          return;
        default:
          return;
      }
    });
    this.procs.push(p);
    this.log(`${id} started (rate ${rate.toFixed(5)}${timing.chosen.length ? `, ${timing.chosen.join(" ")}` : ""})`);
    return p;
  }

  /** Timing options per tier for one process: the configured ones, or a mixed draw. */
  private timingFor(rho: number) {
    const pick = this.cfg.mixedTiming;
    const chosen: string[] = [];
    const fn = (base: number, tier: string) => {
      if (this.cfg.mutation === "no-drift-margin") return { leaseMs: base, maxDrift: 0, marginMs: 0 };
      if (!pick) return { leaseMs: base, maxDrift: rho };
      const leaseMs = base * [0.5, 1, 2][Math.floor(pick() * 3)]!;
      // Any maxDrift at least the true bound, any margin at least the default, is a valid config.
      const maxDrift = rho * (pick() < 0.5 ? 1 : 2);
      const marginMs = Math.max(25, Math.round(leaseMs * 0.02)) * (pick() < 0.5 ? 1 : 2);
      chosen.push(`${tier}=${leaseMs}/${maxDrift}/${marginMs}`);
      // The rollout's longest lease, known to every process (TimingOptions.maxLeaseMs):
      // a process started after a bucket was lost never saw the last holder's lease.
      return { leaseMs, maxDrift, marginMs, maxLeaseMs: base * 2 };
    };
    return Object.assign(fn, { chosen });
  }

  /** Ends an open interval at min(now, its deadline in true time). */
  private close(key: string, p: SimProc, why: string): void {
    const o = this.open.get(key);
    if (!o) return;
    this.open.delete(key);
    const [who, lease] = key.split("|") as [string, string];
    const end = Math.min(this.sched.now(), p.clock.toTrue(o.deadline));
    this.intervals.push({ lease, holder: who, token: o.token, start: o.start, end: Math.max(o.start, end) });
    this.log(`${p.id} ${lease} ${why} token=${o.token}`);
  }

  crash(p: SimProc): void {
    p.clock.crash();
    for (const key of [...this.open.keys()]) if (key.startsWith(`${p.id}#${p.incarnation}|`)) this.close(key, p, "crashed");
    this.log(`${p.id} CRASHED`);
  }

  /** Closes every interval still open (end of run). */
  finish(): void {
    for (const key of [...this.open.keys()]) {
      const id = key.split("#")[0]!;
      const inc = Number(key.split("#")[1]!.split("|")[0]);
      const p = this.procs.find((x) => x.id === id && x.incarnation === inc)!;
      this.close(key, p, "run ended");
    }
  }

  alive(): SimProc[] {
    return this.procs.filter((p) => !p.clock.crashed);
  }
}
